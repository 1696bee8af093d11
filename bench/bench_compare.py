"""compare over 100 evaluated runs of 10k test rows each: wall time, and no torch imported.

Half the runs carry ``slices`` in ``eval_results.json``; the other half only have
``eval/predictions.jsonl`` (10k rows), so compare recomputes their slices from the rows. The baseline,
timed in the same invocation, is the floor any implementation pays: parsing every run's
``eval_results.json`` and ``predictions.jsonl`` with ``json`` alone. The ratio is printed.

Then the bootstrap (issue 11): 1000 paired resamples of every delta, overall and per slice, over
the first ``--bootstrap-runs`` runs; its cost grows with runs x rows x resamples.

Run: ``python bench/bench_compare.py [--runs 100] [--rows 10000] [--bootstrap-runs 10]``.
"""

from __future__ import annotations

import argparse
import json
import random
import sys
import tempfile
import time
from pathlib import Path
from typing import Any, Dict, List

from verifily_adapters.local_store.store import LocalArtifactStore
from verifily_core.domain.compare_format import format_comparison
from verifily_core.services.comparison.compare import compare

SOURCES = ("human", "synthetic", "web", "forum")
DIFFICULTY = ("easy", "medium", "hard")


def _rows(rng: random.Random, n: int) -> List[Dict[str, Any]]:
    rows = []
    for i in range(n):
        f1 = rng.random()
        rows.append(
            {
                "index": i,
                "input": f"question {i}",
                "prediction": "p",
                "reference": "r",
                "tags": {"source": rng.choice(SOURCES), "difficulty": rng.choice(DIFFICULTY)},
                "scores": {"f1": f1, "exact_match": float(f1 > 0.9)},
            }
        )
    return rows


def _slices(rows: List[Dict[str, Any]], key: str) -> Dict[str, Dict[str, float]]:
    groups: Dict[str, List[float]] = {}
    for r in rows:
        groups.setdefault(r["tags"][key], []).append(r["scores"]["f1"])
    return {v: {"n": len(s), "f1": sum(s) / len(s)} for v, s in groups.items()}


def make_runs(root: Path, runs: int, rows: int) -> List[Path]:
    store = LocalArtifactStore(root)
    rng = random.Random(0)
    paths = []
    for k in range(runs):
        run_id = store.create_run(f"bench_{k:03d}").run_id
        data = _rows(rng, rows)
        store.write_json(run_id, "run_meta.json", {"run_id": run_id, "status": "completed", "task": "sft"})
        config = f"task: sft\nbase_model: tiny\ndata_paths:\n  train: d{k % 7}.jsonl\n"
        config += f"training:\n  learning_rate: {1e-4 * (1 + k % 3)}\n"
        store.write_text(run_id, "config.yaml", config)
        slices = {key: _slices(data, key) for key in ("source", "difficulty")} if k % 2 else {}
        overall = {"f1": sum(r["scores"]["f1"] for r in data) / rows, "exact_match": 0.1}
        store.write_json(
            run_id,
            "eval/eval_results.json",
            {
                "run_id": run_id,
                "test_data_path": "test.jsonl",
                "num_examples": rows,
                "overall": overall,
                "slices": slices,
                "hard_examples": [],
                "eval_duration_seconds": 1.0,
            },
        )
        store.write_jsonl(run_id, "eval/predictions.jsonl", data)
        paths.append(root / run_id)
    return paths


def baseline(paths: List[Path]) -> None:
    """Parse every file compare reads, with nothing else."""
    for p in paths:
        json.loads((p / "eval/eval_results.json").read_text())
        with (p / "eval/predictions.jsonl").open() as fh:
            for line in fh:
                json.loads(line)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=100)
    parser.add_argument("--rows", type=int, default=10_000)
    parser.add_argument("--bootstrap-runs", type=int, default=10)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        t0 = time.perf_counter()
        paths = make_runs(Path(tmp) / "runs", args.runs, args.rows)
        print(f"setup: {args.runs} runs x {args.rows} rows in {time.perf_counter() - t0:.1f} s")
        t0 = time.perf_counter()
        baseline(paths)
        t_base = time.perf_counter() - t0
        t0 = time.perf_counter()
        result = compare(
            [str(p) for p in paths],
            metric="f1",
            slice_by="source,difficulty",
            store_factory=LocalArtifactStore,
        )
        outputs = [format_comparison(result, fmt=f) for f in ("table", "json", "csv")]
        t_cmp = time.perf_counter() - t0
        t0 = time.perf_counter()
        boot = compare(
            [str(p) for p in paths[: args.bootstrap_runs]],
            metric="f1",
            slice_by="source,difficulty",
            store_factory=LocalArtifactStore,
            bootstrap=1000,
            seed=0,
        )
        format_comparison(boot, fmt="table")
        t_boot = time.perf_counter() - t0
    assert len(result.runs) == args.runs and "data_paths.train" in result.config_diff
    assert all(outputs) and boot.significance is not None
    torch_loaded = "torch" in sys.modules
    print(f"baseline (json parse only): {t_base:.2f} s")
    print(f"compare + 3 formats:        {t_cmp:.2f} s  ({t_cmp / t_base:.2f}x baseline)")
    print(
        f"bootstrap 1000, {len(boot.runs)} runs:    {t_boot:.2f} s  "
        f"({t_boot / (t_base * len(boot.runs) / args.runs):.2f}x baseline for those runs)"
    )
    print(f"torch imported: {torch_loaded}")
    if torch_loaded:
        print("FAIL: compare imported torch", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
