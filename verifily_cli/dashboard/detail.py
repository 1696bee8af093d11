"""The Run Detail tab as plain data: figures, loss curves, eval metrics, slices, hashes, usage.

Each part of a run folder is read on its own, so a broken ``usage_summary.json`` costs the usage
table, not the page; what could not be read is listed in ``problems``. The live verify runs the
same use case as ``reproduce --verify-only``; the environment comes from the caller (the run's
backend), which keeps this module free of frameworks.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Callable, Dict, List, Mapping, Optional, Tuple

from verifily_cli.dashboard.data import (
    as_mapping,
    checked_run_id,
    main_metric,
    number,
    read_optional,
    rounded,
    run_evaluations,
)
from verifily_cli.dashboard.logs import LossHistory, loss_history
from verifily_core.domain.model_digest import ModelSource, local_model_source
from verifily_core.domain.runs import EVAL_RESULTS, HASHES, RUN_META, TRACKING, TRAIN_SUMMARY, USAGE_SUMMARY
from verifily_core.domain.tracking import TrackingLink, tracking_links
from verifily_core.errors import VerifilyError
from verifily_core.ports.artifact_store import ArtifactStore
from verifily_core.services.reproduction.verify import report_lines, verify

Pairs = List[Tuple[str, str]]
EnvironmentFor = Callable[[ArtifactStore, str], Mapping[str, str]]

META_FIELDS = (
    "status",
    "task",
    "base_model",
    "name",
    "device",
    "seed",
    "started_at",
    "completed_at",
    "duration_seconds",
    "error",
    "resume_hint",
)
HASH_FIELDS = ("config_hash", "data_hash", "environment_hash", "reproducibility_hash", "seed")
USAGE_FIELDS = (
    "total_gpu_hours",
    "compute_hours",
    "total_tokens_processed",
    "storage_mb",
    "device",
    "gpu_type",
    "num_gpus",
    "train_rows",
)
SLICE_HEADERS_LEAD = ("Slice", "n")


@dataclass
class RunDetail:
    """Everything the Run Detail tab shows for one run; empty parts are simply not there."""

    run_id: str
    meta: Pairs = field(default_factory=list)
    training: Pairs = field(default_factory=list)
    loss: LossHistory = field(default_factory=LossHistory)
    task: str = ""
    eval_overall: Dict[str, float] = field(default_factory=dict)
    main_metric: Optional[str] = None
    slices: Dict[str, Dict[str, Dict[str, Any]]] = field(default_factory=dict)
    hashes: Pairs = field(default_factory=list)
    usage: Pairs = field(default_factory=list)
    tracking: List[TrackingLink] = field(default_factory=list)
    problems: List[str] = field(default_factory=list)
    evaluations: List[str] = field(default_factory=list)  # named evaluations besides the main one

    def slice_table(self, key: str) -> Tuple[List[str], List[List[Any]]]:
        """Headers and rows of one slice key: value, n, then each metric of the run."""
        values = self.slices.get(key, {})
        metrics = list(dict.fromkeys(m for cell in values.values() for m in cell if m != "n"))
        rows = [
            [value, cell.get("n"), *(rounded(number(cell.get(m))) for m in metrics)]
            for value, cell in values.items()
        ]
        return [*SLICE_HEADERS_LEAD, *metrics], rows


def run_detail(store: ArtifactStore, run_id: str) -> RunDetail:
    """Read one run for the Run Detail tab; RunNotFoundError only for an id that is not a run here."""
    run_id = checked_run_id(store, run_id)
    detail = RunDetail(run_id)
    problems = detail.problems
    meta = read_optional(store, run_id, RUN_META, problems)
    if isinstance(meta, Mapping):
        detail.meta = _pairs(meta, META_FIELDS)
        detail.task = str(meta.get("task") or "")
    summary = read_optional(store, run_id, TRAIN_SUMMARY, problems)
    if isinstance(summary, Mapping):
        detail.training = [
            (k, _shown(v))
            for k, v in summary.items()
            if k != "log_history" and not isinstance(v, (list, dict))
        ]
    detail.loss = loss_history(store, run_id)
    results = read_optional(store, run_id, EVAL_RESULTS, problems)
    if isinstance(results, Mapping):
        overall = as_mapping(results.get("overall"))
        detail.eval_overall = {k: v for k, v in ((k, number(v)) for k, v in overall.items()) if v is not None}
        detail.main_metric = main_metric(detail.task or str(results.get("task") or ""), overall)
        slices = results.get("slices")
        if isinstance(slices, Mapping):
            detail.slices = {
                str(k): {str(v): dict(c) for v, c in t.items() if isinstance(c, Mapping)}
                for k, t in slices.items()
                if isinstance(t, Mapping)
            }
    hashes = read_optional(store, run_id, HASHES, problems)
    if isinstance(hashes, Mapping):
        detail.hashes = _pairs(hashes, HASH_FIELDS)
    usage = read_optional(store, run_id, USAGE_SUMMARY, problems)
    if isinstance(usage, Mapping):
        detail.usage = _pairs(usage, USAGE_FIELDS)
    detail.evaluations = run_evaluations(store, run_id)
    detail.tracking = tracking_links(read_optional(store, run_id, TRACKING, problems))
    return detail


@dataclass(frozen=True)
class VerifyView:
    """The live reproducibility check: ``verdict`` is PASS / PASS (with warnings) / FAIL, or
    ``not checked`` when the run cannot be checked (no hash chain, no training info)."""

    verdict: str
    lines: List[str]


def verify_view(store: ArtifactStore, run_id: str, environment_for: EnvironmentFor) -> VerifyView:
    """Recompute the run's hash chain now, as ``reproduce --verify-only`` does."""
    run_id = checked_run_id(store, run_id)
    try:
        result = verify(
            store, run_id, environment=environment_for(store, run_id), locate_model=_locator(store, run_id)
        )
    except VerifilyError as exc:
        return VerifyView("not checked", [exc.message, *([exc.hint] if exc.hint else [])])
    shown = result.verdict + (" (with warnings)" if result.verdict == "PASS" and result.warnings else "")
    return VerifyView(shown, report_lines(result))


def _locator(store: ArtifactStore, run_id: str) -> Callable[[str], Optional[ModelSource]]:
    """The run's own backend finds its base model (a hub id in the HF cache); local paths otherwise."""
    from verifily_core.bootstrap import backend_for_run

    try:
        return backend_for_run(store, run_id).locate_model
    except VerifilyError:
        return local_model_source


def _pairs(data: Mapping[str, Any], keys: Tuple[str, ...]) -> Pairs:
    return [(k, _shown(data[k])) for k in keys if data.get(k) is not None]


def _shown(value: Any) -> str:
    if isinstance(value, float):
        return f"{value:.6g}"
    return str(value)
