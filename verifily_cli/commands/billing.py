"""``verifily billing flush``: deliver billing events that a webhook could not take at the time."""

from __future__ import annotations

from pathlib import Path

import typer

from verifily_cli.errors import guarded

app = typer.Typer(help="Billing events: deliver what is waiting in run outboxes.", no_args_is_help=True)


@app.command("flush")
def flush_command(
    runs_dir: Path = typer.Option(Path("runs"), "--runs-dir", help="Runs folder whose outboxes to deliver."),
    verbose: bool = typer.Option(False, "--verbose", "-v", help="Enable DEBUG logging and tracebacks."),
) -> None:
    """Re-deliver every event in runs/*/billing_outbox.jsonl to VERIFILY_BILLING_WEBHOOK (same ids)."""
    with guarded(verbose):
        from verifily_adapters.billing_sinks.outbox import flush_outbox
        from verifily_cli.render import err, out

        report = flush_outbox(runs_dir)
        out.print(
            f"Delivered {report.delivered} event(s) from {report.outboxes} outbox(es); "
            f"{report.failed} still waiting."
        )
        for problem in report.problems:
            err.print(f"  {problem}", markup=False)
    if not report.ok:
        raise typer.Exit(1)
