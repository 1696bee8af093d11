"""What ``verifily plugins`` does: every installed plugin, its port and its distribution."""

from __future__ import annotations

from dataclasses import asdict

from verifily_cli.render import out, print_json, table


def run_plugins(*, json_output: bool) -> None:
    """The plugin report as a table, or as JSON (one object per plugin)."""
    from verifily_core.bootstrap import plugin_report

    report = plugin_report()
    if json_output:
        print_json([asdict(p) for p in report])
        return
    rows = [[p.name, p.port, p.plugin, p.distribution, p.version, p.status] for p in report]
    out.print(
        table("Verifily plugins", ["name", "port", "entry point", "distribution", "version", "status"], rows)
    )
