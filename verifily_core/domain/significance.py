"""Bootstrap confidence intervals for the deltas of a comparison (issue 11).

Why: a delta of 0.008 on 500 test examples may be noise. For every run after the first, and for the
overall metric and every slice value, the test examples are resampled with replacement ``n_boot``
times and the delta against the first run recomputed each time; the 2.5th and 97.5th percentiles
bound a 95% interval. When two runs were evaluated on the same examples (same index, input and
reference in their ``eval/predictions.jsonl``) the resample is *paired*: one draw of examples
serves both runs, so only the models' disagreement counts. Otherwise each run is resampled on its
own (*unpaired*), which is wider and is said so.

What the interval is not: it covers test-set sampling noise only, not training noise (another seed
may give another model). Slices smaller than ``min_slice_n`` are flagged too small to judge.
Deterministic for a given ``seed``: each (run, slice) draws from its own generator seeded by
``seed`` and a stable hash of its names, so adding a slice never changes another's interval.
"""

from __future__ import annotations

import json
import zlib
from typing import Any, Callable, Dict, List, Mapping, Optional, Sequence

import numpy as np

from verifily_core.domain import metrics, slicing
from verifily_core.domain.compare import CompareResult

DEFAULT_N_BOOT = 1000
DEFAULT_MIN_SLICE_N = 30
CONFIDENCE = 0.95
_CHUNK = 64  # resamples drawn at once: bounds memory at 64 x n indices
Rows = Sequence[Mapping[str, Any]]
Stat = Callable[[np.ndarray], np.ndarray]  # (boots x n) row indices -> one value per resample


def statistic(rows: Rows, task: str, metric: str) -> Optional[Stat]:
    """The metric over resampled rows, vectorised; None when the rows lack what it needs.

    The per-example fields come from the evaluator's own extraction (``slicing.PredictionTable``),
    so a bootstrap reads the same numbers that the metric itself was aggregated from.
    """
    spec = metrics.find_spec(task, metric)
    if spec is None or spec.resample is None or not rows:
        return None
    if spec.pairs:
        if not all("reference" in r and "prediction" in r for r in rows):
            return None
        return _label_statistic(
            [r["reference"] for r in rows], [r["prediction"] for r in rows], spec.resample
        )
    table = slicing.PredictionTable(rows, task, ())
    cols = [c for c in map(table.column, spec.fields) if c is not None]
    if not cols or len(cols) < len(spec.fields):
        return None
    if spec.resample == "exp_ratio":
        nll, tok = cols
        return lambda idx: np.exp(nll[idx].sum(axis=1) / np.maximum(tok[idx].sum(axis=1), 1.0))
    values = cols[0]
    return lambda idx: values[idx].mean(axis=1)


def _label_statistic(refs: Sequence[Any], preds: Sequence[Any], form: str) -> Stat:
    labels = {label: i for i, label in enumerate(sorted({str(x) for x in [*refs, *preds]}))}
    t = np.asarray([labels[str(x)] for x in refs])
    p = np.asarray([labels[str(x)] for x in preds])
    if form == "accuracy":
        correct = (t == p).astype(float)
        return lambda idx: correct[idx].mean(axis=1)
    size = len(labels)
    codes = t * size + p

    def macro_f1(idx: np.ndarray) -> np.ndarray:
        boots = idx.shape[0]
        flat = (codes[idx] + (np.arange(boots) * size * size)[:, None]).ravel()
        cm = np.bincount(flat, minlength=boots * size * size).reshape(boots, size, size)
        tp = np.diagonal(cm, axis1=1, axis2=2)
        rows, cols = cm.sum(axis=2), cm.sum(axis=1)  # true counts, predicted counts
        present = (rows + cols) > 0  # the union of true and predicted labels of this resample
        f1 = np.where(present, 2 * tp / np.maximum(rows + cols, 1), 0.0)
        return np.asarray(f1.sum(axis=1) / np.maximum(present.sum(axis=1), 1))

    return macro_f1


def _key(row: Mapping[str, Any], position: int) -> str:
    return json.dumps([row.get("index", position), row.get("input"), row.get("reference")], default=str)


def aligned(base_rows: Rows, rows: Rows) -> Optional[List[Mapping[str, Any]]]:
    """``rows`` put in the order of ``base_rows`` when both hold the same test examples (same index,
    input and reference), so that one resample of positions draws the same examples from both;
    None when the examples differ (the runs were evaluated on other test data)."""
    order = {_key(r, i): i for i, r in enumerate(base_rows)}
    keys = [_key(r, i) for i, r in enumerate(rows)]
    if len(keys) != len(order) or set(keys) != set(order):
        return None
    position = [0] * len(keys)
    for i, k in enumerate(keys):
        position[order[k]] = i
    return [rows[i] for i in position]


def members(rows: Rows, key: Optional[str], value: Optional[str]) -> List[int]:
    """Positions of the rows in slice ``key=value`` (every position when ``key`` is None)."""
    if key is None:
        return list(range(len(rows)))
    return [i for i, r in enumerate(rows) if slicing.slice_value((r.get("tags") or {}).get(key)) == value]


def rng_for(seed: int, *names: str) -> np.random.Generator:
    """A generator of its own per named cell: adding a cell never changes another's draws."""
    return np.random.default_rng([seed, zlib.crc32("\x1f".join(names).encode())])


def delta_interval(
    base: Stat,
    other: Stat,
    base_members: Sequence[int],
    other_members: Sequence[int],
    *,
    paired: bool,
    n_boot: int,
    rng: np.random.Generator,
) -> tuple[float, float]:
    """The central 95% interval of ``other - base`` over ``n_boot`` resamples of the members."""
    deltas: List[np.ndarray] = []
    b_idx, o_idx = np.asarray(base_members), np.asarray(other_members)
    for start in range(0, n_boot, _CHUNK):
        boots = min(_CHUNK, n_boot - start)
        draw_b = b_idx[rng.integers(0, len(b_idx), size=(boots, len(b_idx)))]
        draw_o = draw_b if paired else o_idx[rng.integers(0, len(o_idx), size=(boots, len(o_idx)))]
        deltas.append(other(draw_o) - base(draw_b))
    tail = (1 - CONFIDENCE) / 2 * 100
    low, high = np.percentile(np.concatenate(deltas), [tail, 100 - tail])
    return float(low), float(high)


def bootstrap_significance(
    result: CompareResult,
    predictions: Mapping[str, Optional[Rows]],
    *,
    n_boot: int = DEFAULT_N_BOOT,
    seed: int = 0,
    min_slice_n: int = DEFAULT_MIN_SLICE_N,
) -> Dict[str, Any]:
    """Intervals for every run after the first, overall and per slice value (see the module doc).

    ``predictions[run]`` holds the rows of the run's ``eval/predictions.jsonl`` (None if absent).
    Returns ``{"method", "n_boot", "seed", "confidence", "min_slice_n", "overall": {run: cell},
    "slices": {key: {value: {run: cell}}}, "notes"}``; a cell is ``{"low", "high", "n", "paired",
    "significant", "too_small"}`` or None when that run cannot be bootstrapped.
    """
    first, others = result.runs[0], result.runs[1:]
    notes: List[str] = []
    base_rows = predictions.get(first) or []
    base_stat = statistic(base_rows, result.task, result.metric)
    usable: Dict[str, tuple[Rows, Stat, bool]] = {}
    for run in others:
        rows = predictions.get(run) or []
        stat = statistic(rows, result.task, result.metric)
        if base_stat is None or stat is None:
            lacking = first if base_stat is None else run
            notes.append(
                f"No interval for {run}: {lacking} has no eval/predictions.jsonl with the "
                f"per-example data {result.metric!r} needs."
            )
            continue
        ordered = aligned(base_rows, rows)
        paired = ordered is not None
        if ordered is not None:  # the run's rows in the first run's order, so one draw serves both
            rows = ordered
            stat = statistic(rows, result.task, result.metric)
            assert stat is not None
        else:
            notes.append(
                f"{run} was evaluated on other test examples than {first}: its intervals come "
                "from unpaired resamples (wider)."
            )
        usable[run] = (rows, stat, paired)

    def cell(run: str, key: Optional[str], value: Optional[str]) -> Optional[Dict[str, Any]]:
        if run not in usable or base_stat is None:
            return None
        rows, stat, paired = usable[run]
        b_members = members(base_rows, key, value)
        o_members = b_members if paired else members(rows, key, value)
        if not b_members or not o_members:
            return None
        low, high = delta_interval(
            base_stat,
            stat,
            b_members,
            o_members,
            paired=paired,
            n_boot=n_boot,
            rng=rng_for(seed, run, key or "", value or ""),
        )
        n = min(len(b_members), len(o_members))
        too_small = key is not None and n < min_slice_n
        significant = None if too_small else bool(low > 0 or high < 0)
        return {
            "low": low,
            "high": high,
            "n": n,
            "paired": paired,
            "significant": significant,
            "too_small": too_small,
        }

    notes.append("Intervals cover test-set sampling noise only, not training noise (seeds, data order).")
    return {
        "method": "bootstrap",
        "n_boot": n_boot,
        "seed": seed,
        "confidence": CONFIDENCE,
        "min_slice_n": min_slice_n,
        "overall": {run: cell(run, None, None) for run in others},
        "slices": {
            key: {value: {run: cell(run, key, value) for run in others} for value in table}
            for key, table in result.slices.items()
        },
        "notes": notes,
    }
