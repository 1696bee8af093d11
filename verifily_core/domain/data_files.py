"""Which data files a run uses, resolved once: recorded in ``training_info.json`` and hashed in order.

One resolution serves the train use case, the hash chain and attribution studies, so that the
files a run trains on and the files its data hash covers can never disagree.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Dict, List, Mapping, Tuple

from verifily_core.config import TrainConfig
from verifily_core.errors import ConfigError


def resolve_data_files(config: TrainConfig) -> Dict[str, Any]:
    """``{"train": [abs paths], "val": abs|None, "test": abs|None}``, relative to the config's folder."""
    train = config.data_paths.train_files
    if not train:
        raise ConfigError(
            "data_paths.train is empty: nothing to train on.",
            key="data_paths.train",
            hint="Set data_paths.train to a JSONL file (or a list of files) in the config.",
        )
    return {
        "train": [str(config.resolve_path(p)) for p in train],
        "val": str(config.resolve_path(config.data_paths.val)) if config.data_paths.val else None,
        "test": str(config.resolve_path(config.data_paths.test)) if config.data_paths.test else None,
    }


def role_files(data_files: Mapping[str, Any]) -> List[Tuple[str, Path]]:
    """``(role, path)`` in hashing order: the train files as listed, then val, then test."""
    files = [("train", Path(p)) for p in data_files["train"]]
    files += [(role, Path(data_files[role])) for role in ("val", "test") if data_files.get(role)]
    return files
