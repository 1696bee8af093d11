"""Metrics per tag value and the hard examples, aggregated from per-example prediction records.

A record is one test example's row of ``eval/predictions.jsonl`` (see ``domain/evaluation.py``):
``index``, ``input``, ``prediction``, ``reference``, ``tags`` and its per-example scores.

Why numpy here: slicing must stay interactive on a million rows (``--from-predictions``, compare,
the dashboard), and per-row Python loops per slice and per metric cost seconds at that size. So
the records become arrays once (:class:`PredictionTable`), every group's sums and label-pair
counts come from one ``bincount`` per field, and :mod:`metrics` finishes each metric from those
statistics. The overall numbers are the one-group case of the same code.
"""

from __future__ import annotations

import json
from operator import itemgetter, methodcaller
from typing import Any, Dict, Iterable, List, Mapping, Optional, Sequence, Tuple

import numpy as np
import numpy.typing as npt

from verifily_core.domain import metrics as m
from verifily_core.domain.evaluation import SCORES
from verifily_core.errors import EvaluationError

MISSING = "(missing)"
SFT_HARD_SCORE = "f1"
CLASSIFICATION_HARD_SCORE = "true_label_probability"

Record = Mapping[str, Any]
SliceTable = Dict[str, Dict[str, Dict[str, Any]]]
Codes = npt.NDArray[np.intp]
Floats = npt.NDArray[np.float64]


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


def check_slice_keys(keys: Sequence[str], tag_sets: Sequence[Optional[Mapping[str, Any]]]) -> None:
    """EvaluationError for a slice key that no row has, listing the tag keys that do exist."""
    absent = [k for k in keys if not any(tags and k in tags for tags in tag_sets)]
    if not absent:
        return
    present = tag_keys(tag_sets)
    known = ", ".join(present) if present else "none (the test rows have no tags)"
    raise EvaluationError(
        f"No test row has the tag key(s) {', '.join(absent)}. Tag keys present in the test data: {known}.",
        hint="Pick --slice-by keys from the tag keys present, or add those tags to the test rows.",
    )


class PredictionTable:
    """The records of one evaluation as arrays, extracted once, for any number of groupings.

    A numeric field that some record lacks is left out, and so are the metrics that need it
    (their per-example scores were never computed, e.g. ROUGE without rouge-score).
    """

    def __init__(self, records: Sequence[Record], task: str, metrics: Sequence[str]) -> None:
        if not records:
            raise EvaluationError("No prediction records to compute metrics on.")
        self.records = records
        self.task = task
        self.metrics = list(metrics)
        self.n = len(records)
        self._numeric: Dict[str, Optional[Floats]] = {}
        self._tags: Optional[List[Mapping[str, Any]]] = None
        self._score_rows: Optional[List[Mapping[str, Any]]] = None
        self._score_fields = m.score_fields()
        specs = [m.metric_spec(task, name) for name in self.metrics]
        wanted = dict.fromkeys(f for s in specs for f in s.fields)
        self.fields = [f for f in wanted if self.column(f) is not None]
        self.label_names: List[str] = []
        self._pair_codes: Optional[Codes] = None
        if any(s.pairs for s in specs):
            self._encode_labels()

    # ------------------------------------------------------------------ columns
    def column(self, name: str) -> Optional[Floats]:
        """A numeric per-example field as floats (scores live under ``scores``), or None."""
        if name not in self._numeric:
            try:
                rows = self._scores() if name in self._score_fields else self.records
                self._numeric[name] = np.fromiter(map(itemgetter(name), rows), dtype=np.float64, count=self.n)
            except (KeyError, TypeError):
                self._numeric[name] = None
        return self._numeric[name]

    def _scores(self) -> Sequence[Mapping[str, Any]]:
        if self._score_rows is None:
            self._score_rows = list(map(itemgetter(SCORES), self.records))
        return self._score_rows

    def _encode_labels(self) -> None:
        """(true, predicted) label pairs as one code each: true_index * L + predicted_index."""
        refs = list(map(itemgetter("reference"), self.records))
        preds = list(map(itemgetter("prediction"), self.records))
        index = {label: i for i, label in enumerate(dict.fromkeys(refs + preds))}
        self.label_names = list(index)
        size = len(index)
        true = np.fromiter(map(index.__getitem__, refs), dtype=np.intp, count=self.n)
        pred = np.fromiter(map(index.__getitem__, preds), dtype=np.intp, count=self.n)
        self._pair_codes = true * size + pred

    def tags(self) -> List[Mapping[str, Any]]:
        if self._tags is None:
            self._tags = [r.get("tags") or {} for r in self.records]
        return self._tags

    # ------------------------------------------------------------------ groupings
    def group_codes(self, key: str) -> Tuple[List[str], Codes]:
        """Slice names (first appearance, ``(missing)`` last) and each row's group number."""
        raw = list(map(methodcaller("get", key), self.tags()))
        distinct = list(dict.fromkeys(raw))
        if not all(v is None or isinstance(v, str) for v in distinct):  # True == 1: name before grouping
            raw = list(map(slice_value, raw))
            distinct = list(dict.fromkeys(raw))
        names = [slice_value(v) for v in distinct]
        order = sorted(range(len(names)), key=lambda i: names[i] == MISSING)  # stable: missing last
        index = {distinct[i]: pos for pos, i in enumerate(order)}
        codes = np.fromiter(map(index.__getitem__, raw), dtype=np.intp, count=self.n)
        return [names[i] for i in order], codes

    def stats(self, codes: Codes, groups: int) -> List[m.GroupStats]:
        """Every group's statistics from one bincount per field (and one for the label pairs)."""
        counts = np.bincount(codes, minlength=groups)
        sums = {f: np.bincount(codes, weights=self.column(f), minlength=groups) for f in self.fields}
        pairs = None
        if self._pair_codes is not None:
            size = len(self.label_names)
            pairs = np.bincount(codes * size * size + self._pair_codes, minlength=groups * size * size)
            pairs = pairs.reshape(groups, size, size)
        out = []
        for g in range(groups):
            group_pairs = None
            if pairs is not None:
                t_idx, p_idx = np.nonzero(pairs[g])
                group_pairs = {
                    (self.label_names[t], self.label_names[p]): int(pairs[g, t, p])
                    for t, p in zip(t_idx.tolist(), p_idx.tolist())
                }
            out.append(m.GroupStats(int(counts[g]), {f: float(s[g]) for f, s in sums.items()}, group_pairs))
        return out

    # ------------------------------------------------------------------ results
    def overall(self, labels: Sequence[str] = ()) -> Dict[str, Any]:
        (stats,) = self.stats(np.zeros(self.n, dtype=np.intp), 1)
        return m.aggregate(self.task, self.metrics, stats, labels)

    def slices(self, keys: Sequence[str], labels: Sequence[str] = ()) -> SliceTable:
        """``{key: {value: {"n": n, metric: value, ...}}}`` for every scalar metric."""
        if not keys:
            return {}
        check_slice_keys(keys, self.tags())
        scalar = m.scalar_metrics(self.task, self.metrics)
        table: SliceTable = {}
        for key in keys:
            names, codes = self.group_codes(key)
            stats = self.stats(codes, len(names))
            table[key] = {
                name: {"n": st.n, **m.aggregate(self.task, scalar, st, labels)}
                for name, st in zip(names, stats)
            }
        return table

    def hard_examples(self, n: int) -> List[Dict[str, Any]]:
        """The ``n`` worst examples, ranked from 1; ties keep input order (the lower index first).

        SFT: lowest per-example F1 (no F1 without generation: then none). Classification:
        misclassified rows only, lowest probability given to the true label first.
        """
        name = SFT_HARD_SCORE if self.task == "sft" else CLASSIFICATION_HARD_SCORE
        score = self.column(name)
        if n <= 0 or score is None:
            return []
        candidates = np.arange(self.n)
        if self.task != "sft":
            correct = self.column("correct")
            candidates = np.flatnonzero(correct == 0) if correct is not None else candidates
        worst = candidates[np.argsort(score[candidates], kind="stable")[:n]]
        out: List[Dict[str, Any]] = []
        for rank, i in enumerate(worst.tolist(), 1):
            r = self.records[i]
            out.append(
                {
                    "rank": rank,
                    name: float(score[i]),
                    "prediction": r.get("prediction"),
                    "reference": r.get("reference"),
                    "input": r.get("input"),
                    "tags": dict(r.get("tags") or {}),
                    "index": r.get("index", i),
                }
            )
        return out


def overall_metrics(
    records: Sequence[Record], task: str, metrics: Sequence[str], labels: Sequence[str] = ()
) -> Dict[str, Any]:
    """Every requested metric over all records (the slice of everything)."""
    return PredictionTable(records, task, metrics).overall(labels)


def slice_metrics(
    records: Sequence[Record],
    keys: Sequence[str],
    *,
    task: str,
    metrics: Sequence[str],
    labels: Sequence[str] = (),
) -> SliceTable:
    """``{key: {value: {"n": n, metric: value...}}}`` for every scalar metric of ``metrics``.

    Rows without the key (or with a null value) go to the ``(missing)`` bucket, listed last; a key
    that no row has is an EvaluationError listing the keys that exist. ``_source_dataset`` is an
    ordinary key.
    """
    if not keys:
        return {}
    return PredictionTable(records, task, metrics).slices(keys, labels)


def hard_examples(records: Sequence[Record], n: int, task: str) -> List[Dict[str, Any]]:
    """The ``n`` worst examples; see :meth:`PredictionTable.hard_examples`."""
    if n <= 0 or not records:
        return []
    return PredictionTable(records, task, ()).hard_examples(n)
