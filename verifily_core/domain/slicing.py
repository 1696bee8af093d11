"""Metrics per tag value and the hard examples, aggregated from per-example prediction records.

A record is one test example's row of ``eval/predictions.jsonl`` (see ``domain/evaluation.py``):
``index``, ``input``, ``prediction``, ``reference``, ``tags`` and its per-example scores. Records
are turned into columns once, and each slice picks its rows out of those columns by index, so
slicing a million rows by a few keys costs a few passes over lists rather than any re-scoring.
"""

from __future__ import annotations

import heapq
import json
from typing import Any, Dict, Iterable, List, Mapping, Optional, Sequence

from verifily_core.domain import metrics as m
from verifily_core.domain.evaluation import SCORE_FIELDS, SCORES
from verifily_core.errors import EvaluationError

MISSING = "(missing)"
SFT_HARD_SCORE = "f1"
CLASSIFICATION_HARD_SCORE = "true_label_probability"

Record = Mapping[str, Any]
SliceTable = Dict[str, Dict[str, Dict[str, Any]]]


def slice_value(value: Any) -> str:
    """A tag value as a slice name: strings as written, other JSON values in JSON spelling.

    A ``null`` tag counts as missing: it carries no value to group by.
    """
    if value is None:
        return MISSING
    return value if isinstance(value, str) else json.dumps(value)


def tag_keys(tag_sets: Iterable[Optional[Mapping[str, Any]]]) -> List[str]:
    """Every tag key that at least one row carries, sorted."""
    keys: set[str] = set()
    for tags in tag_sets:
        if tags:
            keys.update(tags)
    return sorted(keys)


def check_slice_keys(keys: Sequence[str], tag_sets: Iterable[Optional[Mapping[str, Any]]]) -> None:
    """EvaluationError for a slice key that no row has, listing the tag keys that do exist."""
    present = tag_keys(tag_sets)
    absent = [k for k in keys if k not in present]
    if not absent:
        return
    listed = ", ".join(absent)
    known = ", ".join(present) if present else "none (the test rows have no tags)"
    raise EvaluationError(
        f"No test row has the tag key(s) {listed}. Tag keys present in the test data: {known}.",
        hint="Pick --slice-by keys from the tag keys present, or add those tags to the test rows.",
    )


def columns_of(records: Sequence[Record], fields: Iterable[str]) -> Dict[str, List[Any]]:
    """One list per field that every record has; a field some record lacks is left out.

    Per-example scores live in each record's ``scores`` mapping, the rest at the top level.
    """
    cols: Dict[str, List[Any]] = {}
    for field in dict.fromkeys(fields):
        try:
            if field in SCORE_FIELDS:
                cols[field] = [r[SCORES][field] for r in records]
            else:
                cols[field] = [r[field] for r in records]
        except KeyError:
            continue
    return cols


def _fields(task: str, names: Sequence[str]) -> List[str]:
    return [c for n in names for c in m.metric_spec(task, n).columns]


def overall_metrics(
    records: Sequence[Record], task: str, metrics: Sequence[str], labels: Sequence[str] = ()
) -> Dict[str, Any]:
    """Every requested metric over all records (the slice of everything)."""
    return m.aggregate(task, metrics, columns_of(records, _fields(task, metrics)), labels)


def _groups(records: Sequence[Record], key: str) -> Dict[str, List[int]]:
    """Row indices per slice value, in order of first appearance; the missing bucket last."""
    groups: Dict[str, List[int]] = {}
    for i, r in enumerate(records):
        tags = r.get("tags")
        value = slice_value(tags.get(key)) if tags else MISSING
        bucket = groups.get(value)
        if bucket is None:
            groups[value] = bucket = []
        bucket.append(i)
    if MISSING in groups:
        groups[MISSING] = groups.pop(MISSING)
    return groups


def slice_metrics(
    records: Sequence[Record],
    keys: Sequence[str],
    *,
    task: str,
    metrics: Sequence[str],
    labels: Sequence[str] = (),
) -> SliceTable:
    """``{key: {value: {"n": n, metric: value, ...}}}`` for every scalar metric of ``metrics``.

    Rows without the key (or with a null value) go to the ``(missing)`` bucket; a key that no row
    has is an EvaluationError listing the keys that exist. ``_source_dataset`` is an ordinary key.
    """
    if not keys:
        return {}
    check_slice_keys(keys, (r.get("tags") for r in records))
    scalar = m.scalar_metrics(task, metrics)
    cols = columns_of(records, _fields(task, scalar))
    table: SliceTable = {}
    for key in keys:
        table[key] = {}
        for value, idx in _groups(records, key).items():
            sub = {f: list(map(col.__getitem__, idx)) for f, col in cols.items()}
            table[key][value] = {"n": len(idx), **m.aggregate(task, scalar, sub, labels)}
    return table


def _hard_score(record: Record, task: str) -> Optional[float]:
    """The score hard examples are ranked by, or None when the row cannot be ranked."""
    if task == "sft":
        return (record.get(SCORES) or {}).get(SFT_HARD_SCORE)
    if record.get("correct", False):
        return None
    return record.get(CLASSIFICATION_HARD_SCORE)


def hard_examples(records: Sequence[Record], n: int, task: str) -> List[Dict[str, Any]]:
    """The ``n`` worst examples, ranked from 1; ties keep input order (the lower index first).

    SFT: lowest per-example F1 (rows without a prediction cannot be ranked and are skipped).
    Classification: misclassified rows only, lowest probability given to the true label first.
    """
    if n <= 0:
        return []
    name = SFT_HARD_SCORE if task == "sft" else CLASSIFICATION_HARD_SCORE
    scored = ((score, i) for i, r in enumerate(records) if (score := _hard_score(r, task)) is not None)
    out: List[Dict[str, Any]] = []
    for rank, (score, i) in enumerate(heapq.nsmallest(n, scored), 1):
        r = records[i]
        out.append({
            "rank": rank,
            name: score,
            "prediction": r.get("prediction"),
            "reference": r.get("reference"),
            "input": r.get("input"),
            "tags": dict(r.get("tags") or {}),
            "index": r.get("index", i),
        })
    return out
