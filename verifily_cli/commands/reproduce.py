"""``verifily reproduce``: check a run's hash chain, or re-run it and compare the results."""

from __future__ import annotations

from pathlib import Path
from typing import Optional

import typer

from verifily_cli.errors import guarded


def reproduce_command(
    run: Path = typer.Option(..., "--run", help="Path to the run folder."),
    verify_only: bool = typer.Option(False, "--verify-only", help="Check hashes without retraining."),
    atol: Optional[float] = typer.Option(
        None, "--atol", help="Tolerance for adapter weights and metrics in a full re-run (default: bitwise)."
    ),
    json_output: bool = typer.Option(False, "--json", help="Print the result as JSON."),
    verbose: bool = typer.Option(False, "--verbose", "-v", help="Enable DEBUG logging and tracebacks."),
) -> None:
    """Verify the reproducibility hash chain of a run (exit 1 on FAIL)."""
    with guarded(verbose):
        from verifily_cli.reproduction import run_reproduce

        code = run_reproduce(run, verify_only=verify_only, atol=atol, json_output=json_output)
    raise typer.Exit(code)
