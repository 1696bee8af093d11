"""``verifily plugins``: what is installed, for which port, from which distribution."""

from __future__ import annotations

import typer

from verifily_cli.errors import guarded


def plugins_command(
    json_output: bool = typer.Option(False, "--json", help="Print as JSON."),
    verbose: bool = typer.Option(False, "--verbose", "-v", help="Enable DEBUG logging and tracebacks."),
) -> None:
    """List installed plugins (model backends, stores, trackers, billing sinks)."""
    with guarded(verbose):
        from dataclasses import asdict

        from verifily_cli.render import out, print_json, table
        from verifily_core.bootstrap import plugins

        report = plugins().plugin_report()
        if json_output:
            print_json([asdict(p) for p in report])
            return
        rows = [[p.name, p.port, p.plugin, p.distribution, p.version, p.status] for p in report]
        out.print(
            table(
                "Verifily plugins", ["name", "port", "entry point", "distribution", "version", "status"], rows
            )
        )
