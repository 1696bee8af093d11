"""A metric over a set of prediction rows: slices recomputed from ``eval/predictions.jsonl``.

Why: a run evaluated without ``--slice-by source`` can still be compared by ``source`` when its
predictions file holds each example's tags and scores, with no model to load. The same aggregation
serves the bootstrap in ``domain.significance``.

A predictions row (issue 4): ``index``, ``input``, ``prediction``, ``reference``, ``tags`` and, for
SFT, per-example ``scores`` (``exact_match``, ``f1``, ``rouge1``...); for classification, ``correct``.
Mean-type metrics are the mean of per-example scores; ``macro_f1`` is recomputed from labels;
``perplexity`` is token-weighted over the whole set and cannot be rebuilt from per-example scores.
"""

from __future__ import annotations

from typing import Any, Dict, List, Mapping, Optional, Sequence

from verifily_core.errors import CompareError

MISSING_TAG = "(missing)"
_NOT_A_MEAN = frozenset({"perplexity"})
_FROM_LABELS = frozenset({"macro_f1"})


def example_score(row: Mapping[str, Any], metric: str) -> Optional[float]:
    """The row's own score for a mean-type metric, or None when the row does not carry it."""
    if metric in _NOT_A_MEAN or metric in _FROM_LABELS:
        return None
    scores = row.get("scores")
    if isinstance(scores, Mapping) and isinstance(scores.get(metric), (int, float)):
        return float(scores[metric])
    if metric == "accuracy" and isinstance(row.get("correct"), bool):
        return 1.0 if row["correct"] else 0.0
    if metric == "accuracy" and "prediction" in row and "reference" in row:
        return 1.0 if row["prediction"] == row["reference"] else 0.0
    return None


def can_aggregate(rows: Sequence[Mapping[str, Any]], metric: str) -> bool:
    """Whether :func:`aggregate` can compute ``metric`` over these rows."""
    if not rows:
        return False
    if metric in _FROM_LABELS:
        return all("prediction" in r and "reference" in r for r in rows)
    return all(example_score(r, metric) is not None for r in rows)


def aggregate(rows: Sequence[Mapping[str, Any]], metric: str) -> float:
    """``metric`` over ``rows``; call :func:`can_aggregate` first (an unknown metric is a KeyError)."""
    if metric in _FROM_LABELS:
        from verifily_core.domain import metrics  # written by the evaluation work (issue 4)

        refs = [str(r["reference"]) for r in rows]
        preds = [str(r["prediction"]) for r in rows]
        return float(getattr(metrics, metric)(refs, preds))  # symmetric in its two arguments
    scores = [example_score(r, metric) for r in rows]
    if any(s is None for s in scores):
        raise KeyError(metric)
    return sum(s for s in scores if s is not None) / len(scores)


def tag_value(row: Mapping[str, Any], key: str) -> str:
    """The row's value for a tag key as a slice label; rows without the key share ``(missing)``."""
    tags = row.get("tags")
    if isinstance(tags, Mapping) and tags.get(key) is not None:
        return str(tags[key])
    return MISSING_TAG


def slice_from_predictions(
    rows: Sequence[Mapping[str, Any]], key: str, metric: str, *, run: str, path: str = ""
) -> Dict[str, Dict[str, Any]]:
    """``{value: {"n": n, metric: v}}`` for one tag key, as ``eval_results.json`` stores slices."""
    if not any(tag_value(r, key) != MISSING_TAG for r in rows):
        keys = sorted({k for r in rows if isinstance(r.get("tags"), Mapping) for k in r["tags"]})
        raise CompareError(
            f"No test example of run {run} has the tag {key!r} (eval/predictions.jsonl); "
            f"tag keys present: {', '.join(keys) or 'none'}.",
            hint="Pick one of those with --slice-by.",
        )
    if metric in _NOT_A_MEAN or not can_aggregate(rows, metric):
        raise CompareError(
            f"Run {run} has no slices by {key!r} in eval/eval_results.json, and {metric!r} cannot be "
            "recomputed per slice from its eval/predictions.jsonl.",
            hint=f"Re-run: verifily eval-cmd --run {path or run} --slice-by {key}",
        )
    groups: Dict[str, List[Mapping[str, Any]]] = {}
    for row in rows:
        groups.setdefault(tag_value(row, key), []).append(row)
    return {value: {"n": len(group), metric: aggregate(group, metric)} for value, group in groups.items()}
