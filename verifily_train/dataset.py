"""``from verifily_train.dataset import DatasetVersion, load_multi_jsonl`` (the guide's import)."""

from verifily_core.domain.data_mixing import load_multi_jsonl
from verifily_core.domain.dataset_version import DatasetVersion

__all__ = ["DatasetVersion", "load_multi_jsonl"]
