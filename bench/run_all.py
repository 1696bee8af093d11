"""`make bench`: run every benchmark script in this folder, one after another."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

# scripts whose default workload takes hours here run reduced; run them alone for the full figures
QUICK = {"bench_peers.py": ["--model", "tiny", "--rounds", "1"]}


def main() -> int:
    here = Path(__file__).parent
    failed = []
    for script in sorted(here.glob("bench_*.py")):
        print(f"\n=== {script.name}", flush=True)
        args = QUICK.get(script.name, [])
        if subprocess.run([sys.executable, str(script), *args], check=False).returncode != 0:
            failed.append(script.name)
    if failed:
        print(f"\nfailed: {', '.join(failed)}")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
