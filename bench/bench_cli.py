"""Wall time of `verifily --help` beside a bare `python -c pass` (same run), and proof that no
heavy framework is imported on the way."""

from __future__ import annotations

import subprocess
import sys
import time

PROBE = (
    "import sys, runpy\n"
    "sys.argv = ['verifily', '--help']\n"
    "try:\n    runpy.run_module('verifily_train', run_name='__main__')\n"
    "except SystemExit:\n    pass\n"
    "heavy = [m for m in ('torch', 'transformers', 'peft', 'gradio', 'wandb', 'httpx') if m in sys.modules]\n"
    "sys.stderr.write('HEAVY=' + ','.join(heavy) + '\\n')\n"
)


def best_of(cmd: list[str], n: int = 5) -> float:
    times = []
    for _ in range(n):
        t0 = time.perf_counter()
        subprocess.run(cmd, capture_output=True, check=False)
        times.append(time.perf_counter() - t0)
    return min(times)


def main() -> None:
    proc = subprocess.run([sys.executable, "-c", PROBE], capture_output=True, text=True, check=False)
    heavy = proc.stderr.strip().splitlines()[-1].removeprefix("HEAVY=")
    assert not heavy, f"verifily --help imported {heavy}"
    baseline = best_of([sys.executable, "-c", "pass"])
    helped = best_of([sys.executable, "-m", "verifily_train", "--help"])
    print(f"python -c pass        {baseline * 1000:7.1f} ms (best of 5)")
    print(f"verifily --help       {helped * 1000:7.1f} ms (best of 5)")
    print(f"ratio                 {helped / baseline:7.2f}x   heavy modules imported: none")


if __name__ == "__main__":
    main()
