"""``verifily plugins`` names a broken plugin and its problem, and keeps listing the healthy ones."""

from __future__ import annotations

import json
from typing import Any, Dict, Iterator, List

import pytest
from typer.testing import CliRunner

from verifily_cli.app import app
from verifily_core.plugins.hookspecs import hookimpl
from verifily_core.plugins.manager import registry
from verifily_core.ports import ModelBackend

runner = CliRunner()


class NotABackend:
    """Claims a name but subclasses nothing: a plugin author forgot the port's ABC."""

    PLUGIN_NAME = "wrong-base"


class NamelessBackend(ModelBackend):  # abstract methods never matter: the class is never built
    """Subclasses the port but has no PLUGIN_NAME, so no config could select it."""


class WrongBasePlugin:
    @hookimpl
    def verifily_register_model_backend(self) -> type:
        return NotABackend


class NamelessPlugin:
    @hookimpl
    def verifily_register_model_backend(self) -> type:
        return NamelessBackend


BROKEN = {"wrong-base-plugin": WrongBasePlugin(), "nameless-plugin": NamelessPlugin()}


@pytest.fixture
def broken_plugins() -> Iterator[List[str]]:
    registered: List[str] = []
    try:
        for name, plugin in BROKEN.items():
            registered.append(registry.register(plugin, name=name))
        yield registered
    finally:
        for name in registered:
            registry.unregister(name=name)


def _rows() -> Dict[str, Dict[str, Any]]:
    result = runner.invoke(app, ["plugins", "--json"])
    assert result.exit_code == 0, result.output
    return {row["plugin"] + "/" + row["name"]: row for row in json.loads(result.output)}


def test_json_report_names_each_broken_plugin_and_its_problem(broken_plugins: List[str]) -> None:
    rows = _rows()
    wrong = rows["wrong-base-plugin/wrong-base"]
    assert wrong["port"] == "model_backend" and wrong["status"].startswith("error: ")
    assert "not a subclass of ModelBackend" in wrong["status"] and "NotABackend" in wrong["status"]
    assert wrong["distribution"] is None  # registered at runtime, not installed
    nameless = rows["nameless-plugin/nameless-plugin"]
    assert nameless["status"].startswith("error: ") and "without a PLUGIN_NAME" in nameless["status"]
    assert "NamelessBackend" in nameless["status"]


def test_healthy_plugins_are_still_listed_ok(broken_plugins: List[str]) -> None:
    rows = _rows()
    healthy = {row["name"] for row in rows.values() if row["status"] == "ok"}
    assert {"hf", "local", "sklearn"} <= healthy
    assert rows["sklearn/sklearn"]["distribution"] == "verifily-sklearn"
    assert rows["sklearn/sklearn"]["version"]


def test_table_shows_the_problem_on_the_broken_plugins_row(broken_plugins: List[str]) -> None:
    result = runner.invoke(app, ["plugins"], env={"COLUMNS": "400"})
    assert result.exit_code == 0, result.output
    lines = {line.split("│")[1].strip(): line for line in result.output.splitlines() if line.count("│") > 2}
    assert "error:" in lines["wrong-base"] and "wrong-base-plugin" in lines["wrong-base"]
    assert "error:" in lines["nameless-plugin"]
    text = " ".join(result.output.split())
    assert "not a subclass of ModelBackend" in text and "without a PLUGIN_NAME" in text
    for name in ("hf", "local", "sklearn"):
        assert lines[name].rstrip(" │").endswith("ok"), lines[name]


def test_unregistering_removes_the_broken_rows() -> None:
    """Runs after the fixture's teardown: no other test sees the broken plugins."""
    assert not any(key.split("/")[0] in BROKEN for key in _rows())
