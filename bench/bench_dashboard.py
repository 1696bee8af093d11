"""The dashboard's Runs tab over 1,000 run folders: under 2 s, and no torch imported.

One run is made by the real train and evaluate use cases (scripted model), then copied into
``--runs`` run folders with their own ids. Timed: the Runs tab's handler (list the folder, read each
run's ``run_meta.json`` and ``eval/eval_results.json``, build the rows and the dropdown choices) plus
Gradio's Dataframe post-processing of the table, i.e. everything the server does before the page
draws it. The baseline, timed in the same invocation, is the floor: ``os.listdir`` + ``json.load``
of the same two files per run. The ratio is printed.

Run: ``python bench/bench_dashboard.py [--runs 1000] [--limit 2.0]``.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import sys
import tempfile
import time
from pathlib import Path

from verifily_adapters.local_store.store import LocalArtifactStore
from verifily_cli.dashboard.samples import DEMO_RUNS, write_sample_data, write_sample_run

ENV = {"python": "bench", "backend": "sample"}


def make_runs(root: Path, data_dir: Path, runs: int) -> None:
    template = write_sample_run(root, write_sample_data(data_dir), DEMO_RUNS[0], ENV)
    src = root / template
    for k in range(runs - 1):
        run_id = f"run_20260101_{k:06d}_bench"
        shutil.copytree(src, root / run_id)
        meta = json.loads((root / run_id / "run_meta.json").read_text(encoding="utf-8"))
        meta.update(run_id=run_id, started_at=f"2026-01-01T00:{k // 60 % 60:02d}:{k % 60:02d}Z")
        (root / run_id / "run_meta.json").write_text(json.dumps(meta), encoding="utf-8")


def baseline(root: Path) -> int:
    """Read the two files per run that the Runs tab needs, with nothing else."""
    n = 0
    for name in os.listdir(root):
        for rel in ("run_meta.json", "eval/eval_results.json"):
            with open(os.path.join(root, name, rel), encoding="utf-8") as fh:
                json.load(fh)
        n += 1
    return n


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=1000)
    parser.add_argument("--limit", type=float, default=2.0, help="seconds the Runs tab may take")
    args = parser.parse_args()
    import gradio as gr

    from verifily_cli.dashboard.app import Handlers

    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp) / "runs"
        t0 = time.perf_counter()
        make_runs(root, Path(tmp) / "data", args.runs)
        print(f"setup: {args.runs} run folders in {time.perf_counter() - t0:.1f} s")
        t0 = time.perf_counter()
        n_base = baseline(root)
        t_base = time.perf_counter() - t0
        handlers = Handlers(LocalArtifactStore(root), lambda store, run_id: ENV)
        frame = gr.Dataframe()
        t0 = time.perf_counter()
        value = handlers.refresh()[0]
        frame.postprocess(value)
        t_tab = time.perf_counter() - t0
    assert n_base == args.runs and len(value["data"]) == args.runs
    torch_loaded = "torch" in sys.modules
    print(f"baseline (listdir + json.load): {t_base:.3f} s")
    print(
        f"Runs tab (rows + Dataframe):    {t_tab:.3f} s  "
        f"({t_tab / t_base:.2f}x baseline, limit {args.limit} s)"
    )
    print(f"torch imported: {torch_loaded}")
    if torch_loaded or t_tab > args.limit:
        print(
            "FAIL: " + ("torch was imported" if torch_loaded else f"the Runs tab took over {args.limit} s"),
            file=sys.stderr,
        )
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
