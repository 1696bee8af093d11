"""The training data of an attribution study: the files as training reads them, and their ablations.

An ablated file keeps its own name inside ``data/without_<value>/``, so the rows' ``_source_dataset``
(the file's stem) stays the same and a run's data hash and ``reproduce`` point at real files.
"""

from __future__ import annotations

import random
from dataclasses import replace
from pathlib import Path
from typing import Any, Callable, Dict, List, Mapping, Sequence, Set, Tuple

from verifily_core.config import TrainConfig
from verifily_core.domain import slicing
from verifily_core.domain.attribution import control_key
from verifily_core.domain.data_files import resolve_data_files
from verifily_core.domain.data_mixing import SOURCE_TAG
from verifily_core.domain.data_parsing import load_examples
from verifily_core.domain.examples import Example
from verifily_core.domain.runs import safe_name
from verifily_core.ports.artifact_store import ArtifactStore


def training_files(config: TrainConfig) -> List[tuple[str, List[Example]]]:
    """Each training file with its rows, tagged with ``_source_dataset`` as training tags them."""
    files = resolve_data_files(config)["train"]
    return [
        (p, [replace(e, tags={**e.tags, SOURCE_TAG: Path(p).stem}) for e in load_examples(p, config.task)])
        for p in files
    ]


def write_ablation_data(
    store: ArtifactStore,
    study_id: str,
    config: TrainConfig,
    by: str,
    values: Sequence[str],
) -> Dict[str, Dict[str, Any]]:
    """Per value, the training files without its rows (see :func:`_write_variant`)."""
    files = training_files(config)
    folders: Dict[str, str] = {}
    data: Dict[str, Dict[str, Any]] = {}
    for value in values:
        folder = _folder(f"data/without_{safe_name(value)}", folders)
        folders[value] = folder

        def keep(_i: int, _j: int, e: Example, value: str = value) -> bool:
            return e.tags.get(by) is None or slicing.slice_value(e.tags[by]) != value

        data[value] = _write_variant(store, study_id, config, files, folder, keep)
    return data


def write_control_data(
    store: ArtifactStore,
    study_id: str,
    config: TrainConfig,
    rows_removed: Mapping[str, int],
    seed: int,
) -> Dict[str, Dict[str, Any]]:
    """Per value, the training files with as many rows removed as the value has, drawn at random from
    all files (seeded by the study's seed and the value): the same-size control that tells "this
    source" from "less data"."""
    files = training_files(config)
    everywhere = [(i, j) for i, (_path, rows) in enumerate(files) for j in range(len(rows))]
    folders: Dict[str, str] = {}
    data: Dict[str, Dict[str, Any]] = {}
    for value, n in rows_removed.items():
        folder = _folder(f"data/control_{safe_name(value)}", folders)
        folders[value] = folder
        dropped = set(random.Random(f"{seed}:{control_key(value)}").sample(everywhere, n))

        def keep(i: int, j: int, _e: Example, dropped: Set[Tuple[int, int]] = dropped) -> bool:
            return (i, j) not in dropped

        data[value] = _write_variant(store, study_id, config, files, folder, keep)
    return data


def _folder(folder: str, taken: Mapping[str, str]) -> str:
    return folder if folder not in taken.values() else f"{folder}_{len(taken)}"


def _write_variant(
    store: ArtifactStore,
    study_id: str,
    config: TrainConfig,
    files: Sequence[Tuple[str, List[Example]]],
    folder: str,
    keep: Callable[[int, int, Example], bool],
) -> Dict[str, Any]:
    """The training files with only the rows ``keep(file index, row index, row)`` accepts: a file
    that loses rows is written to the study folder under its own name; an untouched file is used
    where it is; an emptied file (and its weight) is left out."""
    weights = config.data_paths.weights
    kept_files: List[str] = []
    kept_weights: List[float] = []
    written: set[str] = set()
    for i, (path, rows) in enumerate(files):
        kept = [e for j, e in enumerate(rows) if keep(i, j, e)]
        if not kept:
            continue
        if len(kept) < len(rows):
            name = Path(path).name
            rel = f"{folder}/{name}" if name not in written else f"{folder}/{i}/{name}"
            written.add(name)
            path = str(store.write_jsonl(study_id, rel, [_row(e) for e in kept]))
        kept_files.append(path)
        if weights is not None:
            kept_weights.append(weights[i])
    return {"train": kept_files, "weights": kept_weights if weights is not None else None}


def _row(example: Example) -> Dict[str, Any]:
    """The row to write: training adds ``_source_dataset`` again, from the file's (same) name."""
    row = example.to_row()
    tags = {k: v for k, v in row.pop("tags", {}).items() if k != SOURCE_TAG}
    return {**row, **({"tags": tags} if tags else {})}


__all__ = ["training_files", "write_ablation_data", "write_control_data"]
