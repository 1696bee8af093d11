"""1,000 runs in a bucket vs on local disk: the dashboard's Runs tab and ``compare-cmd``.

The bucket is a real S3 API server (moto's server mode, started here on a free loopback port, as
the tests do). One sample run (the real train and evaluate use cases, scripted model) is copied to
``--runs`` ids, on disk and into the bucket (the files those two commands read). Timed, each over
both stores: the Runs tab's handler (list, read ``run_meta.json``, ``train_summary.json`` and
``eval/eval_results.json`` of every run, build the rows), cold (an empty cache folder: a new
machine) and warm (the same cache folder again: a dashboard restarted, or a second look); and
``compare`` of every run against the first (``--bootstrap 0``). Ratios bucket/local are printed;
the issue's bar is a Runs tab under 3 s over the bucket (``--limit``).

Run: ``python bench/bench_store.py [--runs 1000] [--limit 3.0]``.
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
from typing import Any, Callable, Dict, List

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests"))
FILES = ("run_meta.json", "train_summary.json", "config.yaml", "eval/eval_results.json")
ENV = {"python": "bench", "backend": "sample"}


def make_runs(root: Path, data_dir: Path, runs: int) -> List[str]:
    from verifily_cli.dashboard.samples import DEMO_RUNS, write_sample_data, write_sample_run

    template = root / write_sample_run(root, write_sample_data(data_dir), DEMO_RUNS[0], ENV)
    ids = []
    for k in range(runs):
        run_id = f"run_20260101_{k:06d}_bench"
        (root / run_id / "eval").mkdir(parents=True)
        for name in FILES:
            shutil.copyfile(template / name, root / run_id / name)
        meta = json.loads((root / run_id / "run_meta.json").read_text(encoding="utf-8"))
        meta["run_id"] = run_id
        (root / run_id / "run_meta.json").write_text(json.dumps(meta), encoding="utf-8")
        ids.append(run_id)
    shutil.rmtree(template)
    return ids


def timed(what: str, call: Callable[[], Any]) -> float:
    t0 = time.perf_counter()
    call()
    took = time.perf_counter() - t0
    print(f"  {what:<44} {took:7.3f} s")
    return took


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=1000)
    parser.add_argument(
        "--limit", type=float, default=3.0, help="seconds the bucket's Runs tab may take (warm)"
    )
    args = parser.parse_args()
    from helpers.servers import S3Server

    from verifily_cli.dashboard.app import Handlers
    from verifily_core.bootstrap import open_store
    from verifily_core.services.comparison.compare import compare

    with tempfile.TemporaryDirectory() as tmp:
        base = Path(tmp)
        server = S3Server(base / "moto.log").start()
        try:
            os.environ.update(server.env)
            t0 = time.perf_counter()
            local = base / "runs"
            ids = make_runs(local, base / "data", args.runs)
            bucket = server.bucket()
            url = f"s3://{bucket}/runs"
            fs = open_store(url).fs  # type: ignore[attr-defined]
            fs.pipe(
                {
                    f"{bucket}/runs/{p.relative_to(local).as_posix()}": p.read_bytes()
                    for p in local.rglob("*.*")
                }
            )
            print(f"setup: {args.runs} runs on disk and in {url} in {time.perf_counter() - t0:.1f} s")

            def tab(location: Any, cache: Path) -> Callable[[], Any]:
                os.environ["VERIFILY_STORE_CACHE"] = str(cache)
                handlers = Handlers(open_store(location), lambda store, run_id: ENV)

                def run() -> None:
                    rows = handlers.refresh()[0]["data"]
                    assert len(rows) == args.runs, len(rows)

                return run

            def comparison(location: Any, cache: Path) -> Callable[[], Any]:
                os.environ["VERIFILY_STORE_CACHE"] = str(cache)
                paths = [f"{location}/{i}" for i in ids]
                return lambda: compare(paths, metric="f1", store_factory=open_store, bootstrap=None)

            figures: Dict[str, float] = {}
            print("Runs tab:")
            figures["tab local"] = timed("local disk", tab(local, base / "c0"))
            figures["tab cold"] = timed("bucket, cold (new machine, empty cache)", tab(url, base / "c1"))
            figures["tab warm"] = timed("bucket, warm (same cache, new process view)", tab(url, base / "c1"))
            print("compare (every run against the first, no bootstrap):")
            figures["cmp local"] = timed("local disk", comparison(local, base / "c2"))
            figures["cmp cold"] = timed("bucket, cold", comparison(url, base / "c3"))
            figures["cmp warm"] = timed("bucket, warm", comparison(url, base / "c3"))
        finally:
            server.stop()
    print(
        f"ratios bucket/local: Runs tab cold {figures['tab cold'] / figures['tab local']:.1f}x, "
        f"warm {figures['tab warm'] / figures['tab local']:.1f}x; compare cold "
        f"{figures['cmp cold'] / figures['cmp local']:.1f}x, "
        f"warm {figures['cmp warm'] / figures['cmp local']:.1f}x"
    )
    ok = figures["tab warm"] <= args.limit
    print(f"bucket Runs tab (warm) {'within' if ok else 'OVER'} the {args.limit} s limit")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
