"""Comparing evaluated runs: overall metric, deltas, per-slice values and the config diff.

Why a pure module: ``compare-cmd``, ``compare()`` and the dashboard's Compare tab must show the same
numbers, so the comparison is computed once here from plain data (:class:`RunView`) and only the
reading of run folders (``services.comparison``) and the printing (``domain.compare_format`` for the
CLI and the facade, the dashboard) differ. Which metric is read by default, and which way is
better, is ``domain.metric_choice``'s.
"""

from __future__ import annotations

import json
import math
from dataclasses import asdict, dataclass, field
from typing import Any, Dict, List, Mapping, Optional, Sequence, Union

from verifily_core.domain.metric_choice import default_metric, lower_is_better
from verifily_core.domain.tracking import TrackingLink
from verifily_core.errors import CompareError

CAUSATION_NOTE = "Slice metrics show correlation, not causation."

SliceCell = Dict[str, Optional[float]]  # {"value": v, "n": n, "delta": v - first run's v}


@dataclass(frozen=True)
class RunView:
    """What a comparison needs from one run folder, already read.

    ``config`` is the flattened ``config.yaml`` (``dotted.key -> value``; lists are leaves), or None
    when the run has none; ``path`` is where the run lives, used in error hints only.
    """

    name: str
    task: str
    eval_results: Mapping[str, Any]
    config: Optional[Mapping[str, Any]] = None
    path: str = ""
    tracking: Sequence[TrackingLink] = ()


@dataclass
class CompareResult:
    """One metric across runs; every mapping is keyed by run name in the order of ``runs``.

    ``slices[key][value][run] = {"value", "n", "delta"}`` (None where that run has no such slice
    value); ``config_diff[dotted_key][run]`` is the run's value (None when the key is absent).
    ``significance`` stays None unless a bootstrap was asked for (see ``domain.significance``);
    ``tracking[run]`` lists where a run was tracked (``domain.tracking``), for runs that say so.
    """

    metric: str
    task: str
    runs: List[str]
    overall: Dict[str, float]
    deltas: Dict[str, float]
    num_examples: Dict[str, Optional[int]]
    slice_by: List[str] = field(default_factory=list)
    slices: Dict[str, Dict[str, Dict[str, SliceCell]]] = field(default_factory=dict)
    config_diff: Dict[str, Dict[str, Any]] = field(default_factory=dict)
    notes: List[str] = field(default_factory=list)
    significance: Optional[Dict[str, Any]] = None
    tracking: Dict[str, List[Dict[str, Any]]] = field(default_factory=dict)
    evaluation: str = "main"  # which evaluation of each run: main (eval/) or a name (eval/<name>/)

    def to_dict(self) -> Dict[str, Any]:
        data = asdict(self)
        for optional in ("significance", "tracking"):
            if not data[optional]:
                del data[optional]
        return data


def parse_slice_by(slice_by: Union[str, Sequence[str], None]) -> List[str]:
    """``"source,difficulty"`` or ``["source"]`` -> ``["source", "difficulty"]`` (duplicates dropped)."""
    if slice_by is None:
        return []
    parts = slice_by.split(",") if isinstance(slice_by, str) else list(slice_by)
    keys = [p.strip() for p in parts if p and p.strip()]
    return list(dict.fromkeys(keys))


def build_comparison(
    runs: Sequence[RunView], metric: Optional[str] = None, slice_by: Union[str, Sequence[str], None] = None
) -> CompareResult:
    """Compare ``metric`` across ``runs`` (the first one is the baseline of every delta)."""
    check_runs(runs)
    task = runs[0].task
    metric = metric or default_metric(task)
    keys = parse_slice_by(slice_by)
    names = [r.name for r in runs]
    raw = {r.name: metric_value(r, metric) for r in runs}
    overall = {name: _clean(value) for name, value in raw.items()}
    base = raw[names[0]]
    return CompareResult(
        metric=metric,
        task=task,
        runs=names,
        overall=overall,
        deltas={name: _delta(value, base) for name, value in raw.items()},
        num_examples={r.name: _as_int(r.eval_results.get("num_examples")) for r in runs},
        slice_by=keys,
        slices={key: _slice_table(runs, key, metric) for key in keys},
        config_diff=config_diff(runs),
        notes=_notes(runs, metric),
        tracking={r.name: [link.to_dict() for link in r.tracking] for r in runs if r.tracking},
    )


def check_runs(runs: Sequence[RunView]) -> None:
    """CompareError for fewer than two runs, a run listed twice, or runs of different tasks."""
    if len(runs) < 2:
        got = ", ".join(r.name for r in runs) or "none"
        raise CompareError(
            f"A comparison needs at least two runs, got {len(runs)} ({got}).",
            hint="Pass two or more runs: --runs runs/run_A,runs/run_B",
        )
    seen: Dict[str, RunView] = {}
    for run in runs:
        if run.name in seen:
            raise CompareError(f"Run {run.name!r} is listed twice ({seen[run.name].path} and {run.path}).")
        seen[run.name] = run
    tasks = {r.task for r in runs}
    if len(tasks) > 1:
        which = ", ".join(f"{r.name} is {r.task}" for r in runs)
        raise CompareError(
            f"Runs of different tasks cannot be compared: {which}.",
            hint="Compare SFT runs with SFT runs and classification runs with classification runs.",
        )


def _metrics_of(mapping: Mapping[str, Any]) -> List[str]:
    return [k for k, v in mapping.items() if _is_number(v)]


def metric_value(run: RunView, metric: str) -> float:
    """The run's overall ``metric``; CompareError listing the metrics it has when absent."""
    overall = run.eval_results.get("overall")
    if not isinstance(overall, Mapping):
        raise CompareError(f"{run.path or run.name}: eval/eval_results.json has no 'overall' metrics.")
    if metric not in overall:
        has = ", ".join(_metrics_of(overall)) or "none"
        raise CompareError(
            f"Run {run.name} has no metric {metric!r} in eval/eval_results.json; it has: {has}.",
            hint="Pick one of those with --metric, or re-run eval-cmd with --metrics including it.",
        )
    value = overall[metric]
    if not _is_number(value):
        raise CompareError(
            f"Metric {metric!r} of run {run.name} is not a single number and cannot be compared; "
            f"scalar metrics: {', '.join(_metrics_of(overall))}."
        )
    return float(value)


def _slice_table(runs: Sequence[RunView], key: str, metric: str) -> Dict[str, Dict[str, SliceCell]]:
    per_run = {r.name: slice_values(r, key) for r in runs}
    values: List[str] = list(dict.fromkeys(v for table in per_run.values() for v in table))
    first = runs[0].name
    out: Dict[str, Dict[str, SliceCell]] = {}
    for value in values:
        base = _cell_metric(per_run[first].get(value), metric)
        row: Dict[str, SliceCell] = {}
        for run in runs:
            cell = per_run[run.name].get(value)
            v = _cell_metric(cell, metric)
            n = _as_int(cell.get("n")) if isinstance(cell, Mapping) else None
            delta = _delta(v, base) if v is not None and base is not None else None
            row[run.name] = {"value": None if v is None else _clean(v), "n": n, "delta": delta}
        out[value] = row
    return out


def slice_values(run: RunView, key: str) -> Mapping[str, Any]:
    """The run's ``slices[key]`` (``{value: {"n": n, metric: v}}``); CompareError when absent."""
    slices = run.eval_results.get("slices") or {}
    table = slices.get(key) if isinstance(slices, Mapping) else None
    if not isinstance(table, Mapping):
        has = ", ".join(slices) if isinstance(slices, Mapping) and slices else "none"
        where = run.path or run.name
        raise CompareError(
            f"Run {run.name} has no slices by {key!r} in eval/eval_results.json (slice keys it has: {has}) "
            "and no eval/predictions.jsonl to recompute them from.",
            hint=f"Re-run: verifily eval-cmd --run {where} --slice-by {key}",
        )
    return table


def _cell_metric(cell: Any, metric: str) -> Optional[float]:
    if isinstance(cell, Mapping) and _is_number(cell.get(metric)):
        return float(cell[metric])
    return None


def config_diff(runs: Sequence[RunView]) -> Dict[str, Dict[str, Any]]:
    """Every flattened key whose values differ across the runs that have a config (sorted keys)."""
    with_config = [r for r in runs if r.config is not None]
    keys = sorted({k for r in with_config for k in r.config or {}})
    diff: Dict[str, Dict[str, Any]] = {}
    for key in keys:
        values = {r.name: (r.config or {}).get(key) for r in with_config}
        distinct = list(values.values())
        if any(_canonical(v) != _canonical(distinct[0]) for v in distinct[1:]):
            diff[key] = values
    return diff


def _canonical(value: Any) -> str:
    """Compare values as values: ``2e-4`` equals ``0.0002``, ``[a, b]`` equals ``[a, b]``."""
    return json.dumps(value, sort_keys=True, default=str)


def _notes(runs: Sequence[RunView], metric: str) -> List[str]:
    notes = [CAUSATION_NOTE]
    if lower_is_better(metric):
        notes.append(f"Lower {metric} is better: a negative delta is an improvement.")
    for field_name, what in (("test_data_path", "test data"), ("num_examples", "numbers of test examples")):
        seen = {r.name: r.eval_results.get(field_name) for r in runs}
        if len({_canonical(v) for v in seen.values()}) > 1:
            listed = ", ".join(f"{name}: {value}" for name, value in seen.items())
            notes.append(
                f"Runs were evaluated on different {what} ({listed}); deltas mix model and "
                "test-set differences."
            )
    missing = [r.name for r in runs if r.config is None]
    if missing:
        notes.append(f"No config.yaml in {', '.join(missing)}: left out of the config differences.")
    return notes


def _is_number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)


def _delta(value: float, base: float) -> float:
    """``value - base`` without float noise (``-0.010000000000000009``) in JSON and CSV."""
    return _clean(value - base)


def _clean(value: float) -> float:
    """A metric value without float noise (``0.6000000000000001`` -> ``0.6``) in JSON and CSV."""
    return round(value, 10)


def _as_int(value: Any) -> Optional[int]:
    return int(value) if _is_number(value) else None
