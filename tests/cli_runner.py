"""Run the real ``verifily`` CLI in a subprocess, as a user's shell or a CI log would.

``COLUMNS``/``LINES`` are dropped so that output is what a pipe gets (tables, help), which is the
point of the tests that use this rather than Typer's in-process runner.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path
from typing import Mapping, Optional


def run_verifily(
    *args: str, cwd: Optional[Path] = None, env: Optional[Mapping[str, str]] = None, timeout: float = 240
) -> subprocess.CompletedProcess[str]:
    """``python -m verifily_train.cli ARGS`` with stdout a pipe; ``env`` adds to the inherited one."""
    full_env = {k: v for k, v in os.environ.items() if k not in ("COLUMNS", "LINES")}
    full_env.update(env or {})
    return subprocess.run(
        [sys.executable, "-m", "verifily_train.cli", *args],
        capture_output=True,
        text=True,
        timeout=timeout,
        cwd=cwd,
        env=full_env,
    )
