"""``verifily demo``: the main job a newcomer runs, end to end, on local models."""

from __future__ import annotations

from pathlib import Path

import typer

from verifily_cli.errors import guarded
from verifily_cli.options import verbose_option


def demo_command(
    workdir: Path = typer.Option(
        Path("demo-workspace"), "--workdir", help="Folder for the demo's data, configs and runs."
    ),
    quick: bool = typer.Option(
        False, "--quick", help="Only the tiny-model steps (skip the real pretrained LM step, for CI)."
    ),
    verbose: bool = verbose_option(),
) -> None:
    """Train, evaluate, compare and verify small runs that show which data helped."""
    with guarded(verbose):
        from verifily_cli.handlers.demo import run_demo

        run_demo(workdir, quick=quick)
