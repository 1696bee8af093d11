"""``verifily reproduce`` without ``--verify-only``: re-train and compare (built by issue 5)."""

from __future__ import annotations

from pathlib import Path
from typing import Optional


def run_full_reproduce(run: Path, *, atol: Optional[float], json_output: bool) -> int:
    from verifily_core.errors import VerifilyError

    raise VerifilyError(
        "A full re-run (reproduce without --verify-only) is not available yet in this build.",
        hint=f"Check the hash chain with `verifily reproduce --run {run} --verify-only`.",
    )
