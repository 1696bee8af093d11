"""``verifily dashboard``: the Gradio web UI over a runs folder."""

from __future__ import annotations

from pathlib import Path
from typing import Optional

import typer

from verifily_cli.errors import guarded
from verifily_cli.options import verbose_option


def dashboard_command(
    runs_dir: Path = typer.Option(Path("runs"), "--runs-dir", help="Directory containing run folders."),
    port: int = typer.Option(7860, "--port", help="Port number."),
    share: bool = typer.Option(False, "--share", help="Create a public Gradio share link (needs internet)."),
    host: str = typer.Option("127.0.0.1", "--host", help="Interface to bind (non-loopback requires --auth)."),
    auth: Optional[str] = typer.Option(
        None, "--auth", envvar="VERIFILY_DASHBOARD_AUTH", help="user:password for the UI."
    ),
    browser: bool = typer.Option(
        True,
        "--browser/--no-browser",
        show_default=False,
        help="Open the dashboard in a browser (only where one can show it: a terminal session with a "
        "display, never over SSH or on a headless machine).",
    ),
    verbose: bool = verbose_option(),
) -> None:
    """Launch the web dashboard."""
    with guarded(verbose):
        from verifily_cli.handlers.dashboard import run_dashboard

        run_dashboard(runs_dir=runs_dir, port=port, share=share, host=host, auth=auth, browser=browser)
