"""Slices that a run's ``eval_results.json`` lacks, recomputed from its ``eval/predictions.jsonl``.

Why: a run evaluated without ``--slice-by source`` can still be compared by ``source`` when its
predictions file holds each example's tags and scores, with no model to load. The aggregation is
the evaluator's own (``domain.slicing``), so a recomputed slice equals what ``eval-cmd`` would write,
down to the slice names (``slicing.slice_value``: a boolean tag is ``true``/``false``), which is
what lets a recomputed slice line up with another run's stored one.
"""

from __future__ import annotations

from typing import Any, Dict, Mapping, Sequence

from verifily_core.domain import metrics, slicing
from verifily_core.errors import CompareError, EvaluationError


def slice_from_predictions(
    rows: Sequence[Mapping[str, Any]], key: str, metric: str, *, task: str, run: str, path: str
) -> Dict[str, Dict[str, Any]]:
    """``{value: {"n": n, metric: v}}`` for one tag key, as ``eval_results.json`` stores slices."""
    rerun = f"Re-run: verifily eval-cmd --run {path} --slice-by {key}"
    spec = metrics.find_spec(task, metric)
    if spec is None or not spec.scalar:
        raise CompareError(
            f"Run {run} has no slices by {key!r}, and {metric!r} is not a per-slice metric.", hint=rerun
        )
    try:
        table = slicing.slice_metrics(rows, [key], task=task, metrics=[metric])[key]
    except EvaluationError as exc:  # no row carries the key
        where = f"{path}/eval/predictions.jsonl"
        raise CompareError(f"Run {run} ({where}): {exc.message}", hint=exc.hint) from None
    if any(metric not in cell for cell in table.values()):
        raise CompareError(
            f"Run {run} has no slices by {key!r} in eval/eval_results.json, and its eval/predictions.jsonl "
            f"lacks the per-example scores {metric!r} needs.",
            hint=rerun,
        )
    return table
