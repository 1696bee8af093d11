"""``verifily billing flush``: deliver billing events that a webhook could not take at the time."""

from __future__ import annotations

from pathlib import Path

import typer

from verifily_cli.errors import guarded
from verifily_cli.options import verbose_option

app = typer.Typer(help="Billing events: deliver what is waiting in run outboxes.", no_args_is_help=True)


@app.command("flush")
def flush_command(
    runs_dir: Path = typer.Option(Path("runs"), "--runs-dir", help="Runs folder whose outboxes to deliver."),
    verbose: bool = verbose_option(),
) -> None:
    """Re-deliver every event in runs/*/billing_outbox.jsonl to VERIFILY_BILLING_WEBHOOK (same ids).

    Exit 0: everything delivered; 1: some events still waiting (the endpoint refused or was down);
    2: an outbox or line that cannot be sent as it is (reported with its file and line).
    """
    with guarded(verbose):
        from verifily_cli.handlers.billing import run_flush

        code = run_flush(runs_dir)
    raise typer.Exit(code)
