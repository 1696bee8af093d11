"""Which data files a run uses, resolved once: recorded in ``training_info.json`` and hashed in order.

One resolution serves the train use case, the hash chain and attribution studies, so that the
files a run trains on and the files its data hash covers can never disagree.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Dict, List, Mapping, Tuple, Union

from verifily_core.config import TrainConfig
from verifily_core.errors import ConfigError


def resolve_data_files(config: TrainConfig) -> Dict[str, Any]:
    """``{"train": [abs paths], "val": ..., "test": ...}``, relative to the config's folder; val and test
    keep the form the config wrote (one path, a list, or None)."""
    train = config.data_paths.train_files
    if not train:
        raise ConfigError(
            "data_paths.train is empty: nothing to train on.",
            key="data_paths.train",
            hint="Set data_paths.train to a JSONL file (or a list of files) in the config.",
        )
    return {
        "train": [str(config.resolve_path(p)) for p in train],
        "val": _resolved(config, config.data_paths.val),
        "test": _resolved(config, config.data_paths.test),
    }


def _resolved(config: TrainConfig, value: Union[str, List[str], None]) -> Union[str, List[str], None]:
    """A val/test entry made absolute, keeping its form (one path, or a list as written)."""
    if not value:
        return None
    if isinstance(value, str):
        return str(config.resolve_path(value))
    return [str(config.resolve_path(p)) for p in value]


def split_files(data_files: Mapping[str, Any], role: str) -> List[str]:
    """The files of one split as a list, whether one path, a list or nothing was recorded."""
    value = data_files.get(role)
    if not value:
        return []
    return [value] if isinstance(value, str) else [str(p) for p in value]


def role_files(data_files: Mapping[str, Any]) -> List[Tuple[str, Path]]:
    """``(role, path)`` in hashing order: the train files as listed, then val, then test."""
    return [(role, Path(p)) for role in ("train", "val", "test") for p in split_files(data_files, role)]
