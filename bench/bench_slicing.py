"""Slicing + metrics over 1M synthetic prediction rows (issue 4 target: < 2 s), against a baseline.

The rows are what ``eval/predictions.jsonl`` holds after an evaluation (per-example scores already
computed), so this times what ``eval-cmd --slice-by`` / ``--from-predictions`` costs on top of the
model: overall metrics, slices by two tag keys (one with missing values) and the 50 hard examples.

The baseline, timed in the same invocation on the same rows, is the straightforward implementation:
for each key and each value, filter all rows, then one pass over the subset per metric, and a full
sort for the hard examples. Its time over ours is printed as the ratio.

Run: ``python bench/bench_slicing.py [--rows 1000000] [--task sft|classification|both]``.
"""

from __future__ import annotations

import argparse
import gc
import math
import random
import time
from typing import Any, Callable, Dict, List, Tuple

from verifily_core.domain import label_metrics as lm
from verifily_core.domain import metrics as m
from verifily_core.domain.slicing import PredictionTable

SOURCES = ("human", "synthetic", "web", "forum")
DIFFICULTY = ("easy", "medium", "hard")
LABELS = ("neg", "neutral", "pos")
KEYS = ("source", "difficulty")
Row = Dict[str, Any]


def _tags(rng: random.Random) -> Dict[str, str]:
    tags = {"source": rng.choice(SOURCES)}
    if rng.random() < 0.9:  # one row in ten has no difficulty: the (missing) bucket
        tags["difficulty"] = rng.choice(DIFFICULTY)
    return tags


def sft_rows(n: int, seed: int = 0) -> List[Row]:
    rng = random.Random(seed)
    rows = []
    for i in range(n):
        f1 = rng.random()
        rows.append(
            {
                "index": i,
                "input": "question",
                "prediction": "p",
                "reference": "r",
                "tags": _tags(rng),
                "scores": {
                    "exact_match": float(f1 > 0.9),
                    "f1": f1,
                    "rouge1": f1 * 0.9,
                    "rougeL": f1 * 0.8,
                    "nll_sum": 3.0 * f1 + 1.0,
                    "num_tokens": 1 + i % 7,
                },
            }
        )
    return rows


def classification_rows(n: int, seed: int = 0) -> List[Row]:
    rng = random.Random(seed)
    rows = []
    for i in range(n):
        true, pred = rng.choice(LABELS), rng.choice(LABELS)
        p_true = rng.random()
        rows.append(
            {
                "index": i,
                "input": "text",
                "prediction": pred,
                "reference": true,
                "tags": _tags(rng),
                "true_label_probability": p_true,
                "correct": pred == true,
            }
        )
    return rows


def ours(rows: List[Row], task: str) -> Dict[str, Any]:
    """What the evaluate service does with its records once the model has answered."""
    table = PredictionTable(rows, task, m.available_metrics(task))
    return {
        "overall": table.overall(LABELS),
        "slices": table.slices(KEYS, LABELS),
        "hard": table.hard_examples(50),
    }


def _naive_sft(sub: List[Row]) -> Dict[str, Any]:
    out: Dict[str, Any] = {"n": len(sub)}
    for name in ("exact_match", "f1", "rouge1", "rougeL"):
        out[name] = sum(r["scores"][name] for r in sub) / len(sub)
    nll = sum(r["scores"]["nll_sum"] for r in sub)
    out["perplexity"] = math.exp(nll / sum(r["scores"]["num_tokens"] for r in sub))
    return out


def _naive_classification(sub: List[Row]) -> Dict[str, Any]:
    y_true = [r["reference"] for r in sub]
    y_pred = [r["prediction"] for r in sub]
    return {"n": len(sub), "accuracy": lm.accuracy(y_true, y_pred), "macro_f1": lm.macro_f1(y_true, y_pred)}


def baseline(rows: List[Row], task: str) -> Dict[str, Any]:
    """Filter per (key, value), aggregate per metric over row dicts, sort everything for hard examples."""
    per_slice: Callable[[List[Row]], Dict[str, Any]] = _naive_sft if task == "sft" else _naive_classification
    slices: Dict[str, Dict[str, Any]] = {}
    for key in KEYS:
        values = sorted({r["tags"].get(key, "(missing)") for r in rows})
        slices[key] = {
            v: per_slice([r for r in rows if r["tags"].get(key, "(missing)") == v]) for v in values
        }
    if task == "sft":
        hard = sorted(rows, key=lambda r: r["scores"]["f1"])[:50]
    else:
        hard = sorted((r for r in rows if not r["correct"]), key=lambda r: r["true_label_probability"])[:50]
    return {"overall": per_slice(rows), "slices": slices, "hard": hard}


def _timed(fn: Callable[[], Dict[str, Any]]) -> Tuple[float, Dict[str, Any]]:
    gc.collect()
    t0 = time.perf_counter()
    out = fn()
    return time.perf_counter() - t0, out


def bench(task: str, n: int) -> float:
    t0 = time.perf_counter()
    rows = sft_rows(n) if task == "sft" else classification_rows(n)
    print(f"[{task}] setup: {n:,} rows in {time.perf_counter() - t0:.1f} s")
    t_ours, got = _timed(lambda: ours(rows, task))
    t_base, want = _timed(lambda: baseline(rows, task))
    for key in KEYS:  # the two implementations must agree before their times mean anything
        for value, stats in want["slices"][key].items():
            mine = got["slices"][key][value]
            assert all(math.isclose(mine[k], v, rel_tol=1e-9) for k, v in stats.items()), (key, value)
    print(
        f"[{task}] ours: overall + slices by {','.join(KEYS)} + 50 hard examples: {t_ours:.2f} s "
        f"(target < 2 s: {'met' if t_ours < 2 else 'MISSED'})"
    )
    print(f"[{task}] baseline (filter per slice, aggregate row dicts, full sort): {t_base:.2f} s")
    print(f"[{task}] ratio baseline / ours: {t_base / t_ours:.1f}x")
    return t_ours


def main() -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--task", choices=("sft", "classification", "both"), default="both")
    args = parser.parse_args()
    tasks = ("sft", "classification") if args.task == "both" else (args.task,)
    times = [bench(task, args.rows) for task in tasks]
    return 0 if all(t < 2 for t in times) else 1


if __name__ == "__main__":
    raise SystemExit(main())
