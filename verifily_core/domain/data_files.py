"""Which data files a run uses, resolved once: recorded in ``training_info.json`` and hashed in order.

One resolution serves the train use case, the hash chain and attribution studies, so that the
files a run trains on and the files its data hash covers can never disagree.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any, Dict, List, Mapping, Tuple, Union

from verifily_core.config import TrainConfig
from verifily_core.errors import ConfigError, DataError


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


def check_files_exist(config: TrainConfig, files: Mapping[str, Any]) -> None:
    """DataError for data files that do not exist, naming the folder each relative path was resolved
    against and why (the config file's folder, not the current one), so that a user who wrote paths
    relative to where they stand sees at once what happened."""
    missing = [(role, Path(p)) for role, p in role_files(files) if not Path(p).exists()]
    if not missing:
        return
    base = config.source_dir
    written = {str(config.resolve_path(p)): p for p in _written_paths(config)}
    lines, hints = [], []
    for role, path in missing:
        original = written.get(str(path), str(path))
        if base is not None and not Path(original).expanduser().is_absolute():
            lines.append(f"data_paths.{role}: {original} -> {path} (resolved relative to {base})")
            here = Path.cwd() / original
            if here.exists():
                hints.append(
                    f"{original} exists relative to the current folder: write it as "
                    f"{os.path.relpath(here, base)} (relative to the config's folder) or {here.resolve()}."
                )
        else:
            lines.append(f"data_paths.{role}: {path} not found")
    message = f"{len(missing)} data file(s) not found"
    if base is not None:
        message += (
            f". Relative data paths are resolved against the config file's folder, {base}, so that "
            "a config means the same from any working folder"
        )
    raise DataError(
        message + ":",
        problems=lines,
        hint=" ".join(dict.fromkeys(hints))
        or "Write data paths relative to the config file's folder, or absolute.",
    )


def _written_paths(config: TrainConfig) -> List[str]:
    """Every data path as the config wrote it (train files, then val and test)."""
    paths = list(config.data_paths.train_files)
    for value in (config.data_paths.val, config.data_paths.test):
        if value:
            paths.extend([value] if isinstance(value, str) else value)
    return paths


def split_files(data_files: Mapping[str, Any], role: str) -> List[str]:
    """The files of one split as a list, whether one path, a list or nothing was recorded."""
    value = data_files.get(role)
    if not value:
        return []
    return [value] if isinstance(value, str) else [str(p) for p in value]


def role_files(data_files: Mapping[str, Any]) -> List[Tuple[str, Path]]:
    """``(role, path)`` in hashing order: the train files as listed, then val, then test."""
    return [(role, Path(p)) for role in ("train", "val", "test") for p in split_files(data_files, role)]
