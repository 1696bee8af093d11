"""A run's loss history: ``log_history`` of ``train_summary.json``, else the TensorBoard logs.

Why two sources: the backend's Trainer history is the most complete record when a run kept it, but
every run trained with the default ``tensorboard`` tracker has ``logs/`` event files with the same
``loss`` / ``eval_loss`` scalars, so runs without the history still get a curve.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from typing import Any, Dict, List, Mapping, Sequence, Tuple

from verifily_core.domain.run_files import confined, scan_files
from verifily_core.domain.runs import LOGS_DIR, TRAIN_SUMMARY
from verifily_core.errors import StoreError, UnsafePathError
from verifily_core.ports.artifact_store import ArtifactStore

log = logging.getLogger("verifily.dashboard")

CURVES = ("loss", "eval_loss")
Point = Tuple[float, float]


@dataclass(frozen=True)
class LossHistory:
    """Points ``(step, value)`` per curve name (``loss``, ``eval_loss``) and where they came from."""

    curves: Dict[str, List[Point]] = field(default_factory=dict)
    source: str = ""

    @property
    def empty(self) -> bool:
        return not any(self.curves.values())


def from_log_history(entries: Sequence[Any]) -> Dict[str, List[Point]]:
    """Curves from Trainer-style entries (``{"step": 10, "loss": 1.2}``); malformed entries skipped."""
    curves: Dict[str, List[Point]] = {name: [] for name in CURVES}
    for entry in entries:
        if not isinstance(entry, Mapping) or not _is_number(entry.get("step")):
            continue
        for name in CURVES:
            if _is_number(entry.get(name)):
                curves[name].append((float(entry["step"]), float(entry[name])))
    return {name: sorted(points) for name, points in curves.items()}


def loss_history(store: ArtifactStore, run_id: str) -> LossHistory:
    """The run's loss curves; empty (never an error) when the run logged none."""
    try:
        summary = store.read_json(run_id, TRAIN_SUMMARY) if store.exists(run_id, TRAIN_SUMMARY) else None
    except StoreError:
        summary = None
    entries = summary.get("log_history") if isinstance(summary, Mapping) else None
    if isinstance(entries, list):
        curves = from_log_history(entries)
        if any(curves.values()):
            return LossHistory(curves, f"{TRAIN_SUMMARY} (log_history)")
    curves = _tensorboard_curves(store, run_id)
    return LossHistory(curves, f"{LOGS_DIR}/ (TensorBoard events)") if any(curves.values()) else LossHistory()


def _tensorboard_curves(store: ArtifactStore, run_id: str) -> Dict[str, List[Point]]:
    """Scalars ``loss``/``eval_loss`` of the run's event files (tensorboard's reader imports no torch)."""
    try:  # the reader walks a folder: it must be inside the run and hold regular files only
        logdir = confined(store.local_dir(run_id), LOGS_DIR)
    except UnsafePathError as exc:
        log.warning("Not reading TensorBoard logs of %s: %s", run_id, exc)
        return {}
    if not logdir.is_dir():
        return {}
    problems = scan_files(logdir).problems
    if problems:
        log.warning(
            "Not reading TensorBoard logs of %s: %s", run_id, ", ".join(f"{p}: {w}" for p, w in problems)
        )
        return {}
    try:
        from tensorboard.backend.event_processing.event_accumulator import EventAccumulator
    except ImportError:
        return {}
    try:
        acc = EventAccumulator(str(logdir), size_guidance={"scalars": 0})
        acc.Reload()
        tags = set(acc.Tags().get("scalars", []))
        return {
            name: sorted((float(e.step), float(e.value)) for e in acc.Scalars(name))
            for name in CURVES
            if name in tags
        }
    except Exception as exc:  # noqa: BLE001 - a damaged event file must not break the page
        log.warning("Cannot read TensorBoard logs of %s: %s", run_id, exc)
        return {}


def _is_number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)
