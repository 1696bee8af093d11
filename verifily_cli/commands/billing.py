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
    """Re-deliver every event in runs/*/billing_outbox.jsonl to VERIFILY_BILLING_WEBHOOK (same ids).

    Exit 0: everything delivered; 1: some events still waiting (the endpoint refused or was down);
    2: an outbox or line that cannot be sent as it is (reported with its file and line).
    """
    with guarded(verbose):
        from verifily_adapters.billing_sinks.outbox import flush_outbox
        from verifily_cli.render import err, out
        from verifily_core.domain.locations import remote_url

        if remote_url(runs_dir) is not None:  # outboxes wait on the machine that trained the runs
            from verifily_core.bootstrap import open_store

            runs_dir = open_store(runs_dir).root
            err.print(f"Note: delivering the outboxes of the runs this machine trained, in {runs_dir}.")
        report = flush_outbox(runs_dir)
        out.print(
            f"Delivered {report.delivered} event(s) from {report.outboxes} outbox(es); "
            f"{report.failed} still waiting."
        )
        for problem in report.problems:
            err.print(f"  {problem}", markup=False)
    if report.rejected:  # bad or forged entries, unreadable outboxes: a person must look (exit 2)
        raise typer.Exit(2)
    if not report.ok:  # only deliveries that failed: run it again later (exit 1)
        raise typer.Exit(1)
