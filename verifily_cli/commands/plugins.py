"""``verifily plugins``: what is installed, for which port, from which distribution."""

from __future__ import annotations

import typer

from verifily_cli.errors import guarded
from verifily_cli.options import verbose_option


def plugins_command(
    json_output: bool = typer.Option(False, "--json", help="Print as JSON."),
    verbose: bool = verbose_option(),
) -> None:
    """List installed plugins (model backends, stores, trackers, billing sinks)."""
    with guarded(verbose):
        from verifily_cli.handlers.plugins import run_plugins

        run_plugins(json_output=json_output)
