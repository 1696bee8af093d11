"""Run the ``verifily`` CLI from a test: in a real subprocess, as a user's shell or a CI log would,
or in-process through Typer's runner when the test only needs the exit code and output."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path
from typing import Any, Mapping, Optional


def run_verifily(
    *args: str, cwd: Optional[Path] = None, env: Optional[Mapping[str, str]] = None, timeout: float = 240
) -> subprocess.CompletedProcess[str]:
    """``python -m verifily_train.cli ARGS`` with stdout a pipe; ``env`` adds to the inherited one.

    ``COLUMNS``/``LINES`` are dropped so that output is what a pipe gets (tables, help), which is the
    point of the tests that use this rather than the in-process runner."""
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


def invoke(*args: str, env: Optional[Mapping[str, str]] = None) -> Any:
    """The CLI in this process (Typer's runner, 200 columns); fails the test on a traceback, which
    the CLI must never show whatever the exit code."""
    from typer.testing import CliRunner

    from verifily_cli.app import app

    result = CliRunner().invoke(app, list(args), env={"COLUMNS": "200", **(env or {})})
    assert "Traceback" not in result.output, result.output
    return result
