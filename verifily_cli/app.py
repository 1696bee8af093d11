"""The ``verifily`` command: a Typer root that only wires command modules together.

Command modules import the core lazily inside their functions so that ``verifily --help`` and the
commands that need no model start instantly and never import torch.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Optional

import typer
import typer.core

from verifily_cli.commands import (
    attribute,
    billing,
    compare,
    dashboard,
    demo,
    evaluate,
    models,
    plugins,
    predict,
    reproduce,
    train,
    tune,
)
from verifily_core import __version__

if TYPE_CHECKING:  # typer's own click (typer vendors it): the types its groups are called with
    from typer._click.core import Command, Context
    from typer._click.formatting import HelpFormatter


def plain_metavars(command: Command, ctx: Context) -> None:
    """Help that reads like a well-kept CLI's (uv, pip, gh): a flag shows no value type (not
    ``<bool>``), a repeatable option shows its element and ``...`` (not ``<list[str]>``). Options
    that set their own metavar (``--set KEY=VALUE``) keep it; sub-groups are handled recursively.
    (Typer vendors its own click, so the objects are typer's: options are ``TyperOption``.)"""
    for param in command.get_params(ctx):
        if not isinstance(param, typer.core.TyperOption) or param.metavar is not None:
            continue
        if param.is_flag or param.count:
            param.metavar = ""
        elif param.multiple:
            inner = param.display_type(ctx).strip("<>")
            inner = inner[len("list[") : -1] if inner.startswith("list[") else inner
            param.metavar = f"<{inner}>..."
    for sub in getattr(command, "commands", {}).values():
        plain_metavars(sub, ctx)


class HelpGroup(typer.core.TyperGroup):
    """The root group: every command it resolves gets :func:`plain_metavars` before its help is
    drawn, so commands added later (by any module) read the same without opting in."""

    def get_command(self, ctx: Context, cmd_name: str) -> Optional[Command]:
        command = super().get_command(ctx, cmd_name)
        if command is not None:
            plain_metavars(command, ctx)
        return command

    def format_help(self, ctx: Context, formatter: HelpFormatter) -> None:
        plain_metavars(self, ctx)
        super().format_help(ctx, formatter)


app = typer.Typer(
    cls=HelpGroup,
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
        typer.echo(f"verifily, version {__version__}")
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
app.command("predict")(predict.predict_command)
app.command("export")(predict.export_command)
app.command("reproduce")(reproduce.reproduce_command)
app.command("keygen")(reproduce.keygen_command)
app.command("sign")(reproduce.sign_command)
app.command("tune")(tune.tune_command)
app.command("attribute")(attribute.attribute_command)
app.command("dashboard")(dashboard.dashboard_command)
app.command("demo")(demo.demo_command)
app.command("plugins")(plugins.plugins_command)
app.command("models")(models.models_command)
app.add_typer(billing.app, name="billing")


def main() -> None:
    """Console-script entry point (each command turns its own errors into exit codes)."""
    app()
