"""The ``verifily`` command: a Typer root that only wires command modules together.

Command modules import the core lazily inside their functions so that ``verifily --help`` and the
commands that need no model start instantly and never import torch.
"""

from __future__ import annotations

from typing import Optional

import typer

from verifily_cli.commands import (
    attribute,
    billing,
    compare,
    demo,
    evaluate,
    plugins,
    reproduce,
    train,
    tune,
    ui,
)

VERSION = "1.1.0"

app = typer.Typer(
    name="verifily",
    help="Verifily Train: dataset-aware fine-tuning. Train LoRA adapters from a YAML config, evaluate "
    "by data tag, compare runs and prove what produced them.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    context_settings={"help_option_names": ["-h", "--help"]},
)


def _version(value: bool) -> None:
    if value:
        typer.echo(f"verifily, version {VERSION}")
        raise typer.Exit()


@app.callback()
def root(
    version: Optional[bool] = typer.Option(
        None, "--version", callback=_version, is_eager=True, help="Show the version and exit."
    ),
) -> None:
    """Verifily Train command line."""


app.command("train")(train.train_command)
app.command("eval-cmd")(evaluate.eval_command)
app.command("eval", hidden=True, help="Alias of eval-cmd.")(evaluate.eval_command)
app.command("compare-cmd")(compare.compare_command)
app.command("compare", hidden=True, help="Alias of compare-cmd.")(compare.compare_command)
app.command("reproduce")(reproduce.reproduce_command)
app.command("tune")(tune.tune_command)
app.command("attribute")(attribute.attribute_command)
app.command("dashboard")(ui.dashboard_command)
app.command("demo")(demo.demo_command)
app.command("plugins")(plugins.plugins_command)
app.add_typer(billing.app, name="billing")


def main() -> None:
    """Console-script entry point (each command turns its own errors into exit codes)."""
    app()
