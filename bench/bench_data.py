"""Data validation rows/s on a generated 1M-row JSONL, and data hashing MB/s beside hashlib.

Two figures, each beside a baseline timed in the same invocation on the same file:

* validation: ``load_examples(path, "sft")`` (decode, parse, check every field, build typed
  examples) against the floor any JSONL reader pays, ``json.loads`` of every line;
* hashing: ``sha256_file`` (the streaming pass behind ``data_hash``) against
  ``hashlib.file_digest`` (Python 3.11+), best of three runs each, alternating.

Run: ``python bench/bench_data.py [--rows 1000000]``. The file is written under a temp folder and
removed afterwards.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import sys
import tempfile
import time
from pathlib import Path
from typing import Callable, List

from verifily_core.domain.data_parsing import load_examples
from verifily_core.domain.hashchain import sha256_file

SOURCES = ("human", "synthetic", "web", "forum")
DIFFICULTY = ("easy", "medium", "hard")


def make_jsonl(path: Path, rows: int) -> None:
    """SFT rows of the guide's shape with two tags, written in batches (a few seconds for 1M)."""
    with path.open("w", encoding="utf-8") as fh:
        batch: List[str] = []
        for i in range(rows):
            batch.append(
                json.dumps(
                    {
                        "instruction": f"Summarise item {i} in one sentence.",
                        "input": f"Item {i} reports that revenue grew {i % 97}% over the quarter.",
                        "output": f"Revenue for item {i} grew {i % 97}%.",
                        "tags": {"source": SOURCES[i % 4], "difficulty": DIFFICULTY[i % 3]},
                    }
                )
            )
            if len(batch) == 10_000:
                fh.write("\n".join(batch) + "\n")
                batch = []
        if batch:
            fh.write("\n".join(batch) + "\n")


def _json_floor(path: Path) -> int:
    with path.open("rb") as fh:
        return sum(1 for line in fh if json.loads(line))


def _timed(fn: Callable[[], object]) -> float:
    start = time.perf_counter()
    fn()
    return time.perf_counter() - start


def main(argv: List[str]) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=1_000_000)
    args = parser.parse_args(argv)
    if not hasattr(hashlib, "file_digest"):
        print("hashlib.file_digest needs Python 3.11+; no hashing baseline here.", file=sys.stderr)
        return 2

    with tempfile.TemporaryDirectory(prefix="verifily-bench-data-") as tmp:
        path = Path(tmp) / "train.jsonl"
        t_gen = _timed(lambda: make_jsonl(path, args.rows))
        size_mb = path.stat().st_size / 1e6
        print(f"generated {args.rows:,} rows, {size_mb:.1f} MB in {t_gen:.1f} s")

        examples: List[object] = []
        t_floor = _timed(lambda: _json_floor(path))
        t_valid = _timed(lambda: examples.extend(load_examples(path, "sft")))
        assert len(examples) == args.rows
        del examples[:]
        print(f"validation:  {args.rows / t_valid:>12,.0f} rows/s  ({t_valid:.2f} s)")
        print(f"json floor:  {args.rows / t_floor:>12,.0f} rows/s  ({t_floor:.2f} s)")
        print(f"ratio validation/floor time: {t_valid / t_floor:.2f}x")

        ours, base = [], []
        with path.open("rb") as fh:
            expected = "sha256:" + hashlib.file_digest(fh, "sha256").hexdigest()  # warms the page cache
        for _ in range(3):
            ours.append(_timed(lambda: sha256_file(path)))
            with path.open("rb") as fh:
                base.append(_timed(lambda: hashlib.file_digest(fh, "sha256")))  # noqa: B023
        assert sha256_file(path) == expected
        print(f"sha256_file:          {size_mb / min(ours):>8,.0f} MB/s  (best of 3: {min(ours):.3f} s)")
        print(f"hashlib.file_digest:  {size_mb / min(base):>8,.0f} MB/s  (best of 3: {min(base):.3f} s)")
        print(f"ratio sha256_file/file_digest time: {min(ours) / min(base):.2f}x")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
