"""How a command ends (``verifily_cli.errors.guarded``): our errors become a message and an exit code,
the CLI framework's own exits pass through untouched."""

from __future__ import annotations

import pytest
import typer
from typer.testing import CliRunner

from verifily_cli.errors import guarded
from verifily_core.errors import ConfigError

app = typer.Typer()


@app.command()
def body(what: str) -> None:
    with guarded(False):
        if what == "exit":
            raise typer.Exit(3)
        if what == "usage":
            raise typer.BadParameter("not like that")
        if what == "ours":
            raise ConfigError("bad key", hint="fix it")
        raise RuntimeError("boom")


@pytest.mark.parametrize(
    ("what", "code", "shown"),
    [
        ("exit", 3, ""),  # typer.Exit keeps its code (typer 0.29 vendors click: it was an "Internal error")
        ("usage", 2, "not like that"),
        ("ours", 2, "Hint: fix it"),
        ("crash", 1, "Internal error: RuntimeError: boom"),
    ],
)
def test_our_errors_become_codes_and_typer_exits_pass_through(what: str, code: int, shown: str) -> None:
    result = CliRunner().invoke(app, [what])
    assert result.exit_code == code, result.output
    assert shown in result.output
    assert ("Internal error" in result.output) == (what == "crash")
