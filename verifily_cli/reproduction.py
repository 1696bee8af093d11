"""What ``verifily reproduce`` does once its flags are parsed; returns the exit code."""

from __future__ import annotations

from pathlib import Path
from typing import Optional

from verifily_cli.render import out, print_json


def run_reproduce(run: Path, *, verify_only: bool, atol: Optional[float], json_output: bool) -> int:
    from verifily_core.bootstrap import ports_for_run
    from verifily_core.services.reproduce import report_lines, verify

    store, run_id, backend = ports_for_run(run)
    if verify_only:
        result = verify(store, run_id, environment=backend.environment())
        if json_output:
            print_json(
                {
                    "run_id": result.run_id,
                    "verdict": result.verdict,
                    "checks": result.checks,
                    "details": result.details,
                }
            )
        else:
            for line in report_lines(result):
                out.print(line, markup=False)
        return 1 if result.verdict == "FAIL" else 0
    from verifily_cli.rerun import run_full_reproduce

    return run_full_reproduce(run, atol=atol, json_output=json_output)
