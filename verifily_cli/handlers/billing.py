"""What ``verifily billing flush`` does once its flags are parsed."""

from __future__ import annotations

from pathlib import Path

from verifily_cli.render import err, out


def run_flush(runs_dir: Path) -> int:
    """Deliver every outbox under ``runs_dir``; the exit code: 0 all delivered, 1 some still waiting
    (run it again later), 2 entries that cannot be sent as they are (a person must look)."""
    from verifily_adapters.billing_sinks.outbox import flush_outbox
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
    if report.rejected:  # bad or forged entries, unreadable outboxes
        return 2
    return 0 if report.ok else 1
