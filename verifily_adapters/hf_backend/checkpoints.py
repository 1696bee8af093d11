"""Whether a Trainer checkpoint folder is whole, checked with the standard library only.

Why this exists: ``Trainer`` writes ``checkpoint-N`` file by file (weights, optimizer, scheduler,
RNG state, ``trainer_state.json`` last) straight into its final folder. A process killed in the
middle leaves a folder that ``get_last_checkpoint`` happily picks and that ``train`` then refuses
("Can't find a valid checkpoint"), so every later resume would fail. Each file is checked for what
truncation breaks: a safetensors file must be as long as its header says; a ``torch.save`` file is
a zip archive whose central directory sits at its end; JSON must parse.
"""

from __future__ import annotations

import json
import struct
import zipfile
from pathlib import Path

WEIGHTS = ("adapter_model.safetensors", "model.safetensors", "adapter_model.bin", "pytorch_model.bin")
SHARD_INDEXES = ("model.safetensors.index.json", "pytorch_model.bin.index.json")
TRAINER_STATE = "trainer_state.json"
TRAINING_STATE = ("optimizer.pt", "scheduler.pt")  # absent only with save_only_model
_MAX_HEADER = 100 * 2**20


def checkpoint_is_complete(folder: Path) -> bool:
    """True when the weights, the trainer state and (when saved) optimizer and scheduler are whole."""
    if not folder.is_dir() or not _json_ok(folder / TRAINER_STATE):
        return False
    weights = [folder / name for name in WEIGHTS if (folder / name).is_file()]
    for index in (folder / name for name in SHARD_INDEXES if (folder / name).is_file()):
        shards = _shards(index)
        if shards is None:
            return False
        weights += [folder / shard for shard in shards]
    if not weights or not all(_weights_ok(path) for path in weights):
        return False
    saved = [folder / name for name in TRAINING_STATE if (folder / name).exists()]
    if saved and len(saved) != len(TRAINING_STATE):
        return False  # one of the pair written, the other not: killed in between
    return all(_torch_file_ok(path) for path in saved)


def _json_ok(path: Path) -> bool:
    try:
        json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return False
    return True


def _shards(index: Path) -> list[str] | None:
    try:
        weight_map = json.loads(index.read_text(encoding="utf-8")).get("weight_map", {})
    except (OSError, ValueError, AttributeError):
        return None
    names = sorted({str(v) for v in weight_map.values()}) if isinstance(weight_map, dict) else []
    return names if names and all("/" not in n and "\\" not in n for n in names) else None


def _weights_ok(path: Path) -> bool:
    return _safetensors_ok(path) if path.suffix == ".safetensors" else _torch_file_ok(path)


def _safetensors_ok(path: Path) -> bool:
    """An 8-byte header length, a JSON header, then exactly the data its offsets describe."""
    try:
        with path.open("rb") as fh:
            (length,) = struct.unpack("<Q", fh.read(8))
            if length > _MAX_HEADER:
                return False
            header = json.loads(fh.read(length))
        size = path.stat().st_size
    except (OSError, ValueError, struct.error):
        return False
    if not isinstance(header, dict):
        return False
    try:
        ends = [int(v["data_offsets"][1]) for k, v in header.items() if k != "__metadata__"]
    except (TypeError, KeyError, IndexError, ValueError):
        return False
    return bool(size == 8 + int(length) + max(ends, default=0))


def _torch_file_ok(path: Path) -> bool:
    """``torch.save`` writes a zip archive; a truncated one has lost its central directory."""
    try:
        with zipfile.ZipFile(path) as archive:
            return bool(archive.namelist())
    except (OSError, zipfile.BadZipFile, ValueError):
        return False
