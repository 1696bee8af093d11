"""``from verifily_train.dataset import DatasetVersion, load_multi_jsonl`` (the guide's import)."""

from verifily_core.domain.data import DatasetVersion, load_multi_jsonl

__all__ = ["DatasetVersion", "load_multi_jsonl"]
