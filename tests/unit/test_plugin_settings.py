"""A plugin's own config section, ``plugins.<name>``: checked against the schema the plugin declares
(``verifily_plugin_config_schema``) with the core's error style, read back by the plugin, kept out
of the config hash while absent.

Plugins here are registered in-process into a registry that discovers nothing, so each test sees
exactly the plugins it names; the installed sklearn example is exercised in
tests/cli/test_plugin_settings_cli.py.
"""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import Any, Dict

import pytest
from pydantic import BaseModel, Field

from verifily_core.config import PluginSettings, TrainConfig
from verifily_core.errors import ConfigError, PluginError
from verifily_core.plugins import DISABLE_ENV, PluginRegistry, hookimpl
from verifily_core.plugins.settings import check_plugin_settings

BASE = {"task": "classification", "base_model": "tfidf-logreg"}


class SolverSettings(PluginSettings):
    max_iter: int = Field(100, gt=0, description="solver iterations")
    C: float = Field(1.0, gt=0)
    mode: str = "fast"


class SolverPlugin:
    @hookimpl
    def verifily_plugin_config_schema(self) -> type[BaseModel]:
        return SolverSettings


class NoSettingsPlugin:
    @hookimpl
    def verifily_register_tracker(self) -> None:
        return None


@pytest.fixture
def plugins() -> PluginRegistry:
    registry = PluginRegistry(group="verifily.tests.no-such-group")
    registry.register(SolverPlugin(), name="solver")
    registry.register(NoSettingsPlugin(), name="quiet")
    return registry


def _config(tmp_path: Path, section: Any) -> TrainConfig:
    return TrainConfig.from_dict({**BASE, "plugins": section}, source=tmp_path / "train.yaml")


def _error(tmp_path: Path, section: Any, plugins: PluginRegistry) -> ConfigError:
    config = _config(tmp_path, section)
    with pytest.raises(ConfigError) as caught:
        check_plugin_settings(config, plugins)
    return caught.value


def test_a_valid_section_is_read_back_typed_and_with_defaults(
    tmp_path: Path, plugins: PluginRegistry
) -> None:
    config = _config(tmp_path, {"solver": {"max_iter": 7, "C": 1}})
    check_plugin_settings(config, plugins)
    settings = config.plugin_settings("solver", SolverSettings)
    assert (settings.max_iter, settings.C, settings.mode) == (7, 1.0, "fast")
    assert isinstance(settings.C, float)
    absent = TrainConfig.from_dict(BASE).plugin_settings("solver", SolverSettings)
    assert absent == SolverSettings()


@pytest.mark.parametrize(
    ("section", "message"),
    [
        (
            {"max_iter": 0},
            "Invalid value for 'plugins.solver.max_iter' in {file}: Input should be greater than 0",
        ),
        ({"C": True}, "Invalid value for 'plugins.solver.C' in {file}: expected a number, got true"),
        (
            {"max_iter": "lots"},
            "Invalid value for 'plugins.solver.max_iter' in {file}: Input should be a valid integer",
        ),
        ({"max_itr": 5}, "Unknown config key 'plugins.solver.max_itr' in {file}. Did you mean 'max_iter'?"),
    ],
)
def test_a_bad_value_names_file_key_and_expectation_and_lists_the_keys(
    tmp_path: Path, plugins: PluginRegistry, section: Dict[str, Any], message: str
) -> None:
    error = _error(tmp_path, {"solver": section}, plugins)
    assert str(error).startswith(message.format(file=tmp_path / "train.yaml")), str(error)
    assert error.key is not None and error.key.startswith("plugins.solver.")
    assert error.hint is not None
    assert (
        "max_iter (int, default 100): solver iterations" in error.hint
        and "C (float, default 1.0)" in error.hint
    )


def test_a_section_that_is_not_a_mapping_is_refused_at_load(tmp_path: Path) -> None:
    with pytest.raises(
        ConfigError, match=r"Invalid value for 'plugins.solver' in .*train.yaml: .*dictionary"
    ):
        _config(tmp_path, {"solver": 3})
    with pytest.raises(ConfigError, match=r"Invalid value for 'plugins' in .*train.yaml"):
        _config(tmp_path, ["solver"])


def test_an_unknown_plugin_name_lists_the_installed_plugins(tmp_path: Path, plugins: PluginRegistry) -> None:
    error = _error(tmp_path, {"solvr": {}}, plugins)
    assert (
        str(error)
        == f"Unknown plugin 'solvr' under 'plugins' in {tmp_path / 'train.yaml'}. Did you mean 'solver'?"
    )
    assert error.key == "plugins.solvr"
    assert error.hint is not None and "Installed plugins: quiet, solver" in error.hint
    assert "those that take a section: solver" in error.hint


def test_a_plugin_without_a_schema_takes_no_section(tmp_path: Path, plugins: PluginRegistry) -> None:
    error = _error(tmp_path, {"quiet": {"level": 1}}, plugins)
    assert "plugin 'quiet' declares no settings of its own" in str(error)
    assert error.hint is not None and "Remove 'plugins.quiet'" in error.hint


def test_a_section_for_a_disabled_plugin_says_why_it_is_not_loaded(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(DISABLE_ENV, "sklearn")  # the example plugin `make install` installs
    error = _error(tmp_path, {"sklearn": {"C": 0.5}}, PluginRegistry())
    assert "configures plugin 'sklearn', which is not loaded (disabled by VERIFILY_DISABLE_PLUGINS)" in str(
        error
    )


@pytest.mark.parametrize("returned", [dict, "SolverSettings", SolverSettings()])
def test_a_schema_hook_that_returns_no_model_class_is_a_plugin_error(
    tmp_path: Path, plugins: PluginRegistry, returned: object
) -> None:
    class Broken:
        @hookimpl
        def verifily_plugin_config_schema(self) -> object:
            return returned

    plugins.register(Broken(), name="broken")
    with pytest.raises(
        PluginError, match=r"plugin 'broken' \(registered at runtime\) returned .* not a pydantic model"
    ):
        check_plugin_settings(_config(tmp_path, {"solver": {}}), plugins)


def test_without_a_plugins_section_the_config_hash_is_unchanged() -> None:
    """The hash recorded for runs before ``plugins:`` existed (sha256 of canonical_json), pinned."""
    config = TrainConfig.from_dict(
        {
            **BASE,
            "backend": "sklearn",
            "seed": 7,
            "data_paths": {"train": "train.jsonl"},
            "training": {"learning_rate": 2e-4},
        }
    )
    assert "plugins" not in config.canonical_json()
    digest = hashlib.sha256(config.canonical_json().encode()).hexdigest()
    assert digest == "5c4f7549e53064ac4392a772645bf73938d78b0bf6fa28184ad67babdae9d3c2"
    with_section = config.apply_overrides({"plugins.solver.C": "0.5"})
    assert '"plugins":{"solver":{"C":0.5}}' in with_section.canonical_json()


def test_overrides_set_plugin_keys_and_round_trip_through_yaml(tmp_path: Path) -> None:
    config = TrainConfig.from_dict({**BASE, "plugins": {"solver": {"mode": "slow"}}})
    changed = config.apply_overrides({"plugins.solver.max_iter": "50", "plugins.other.deep.flag": "true"})
    assert changed.plugins == {"solver": {"mode": "slow", "max_iter": 50}, "other": {"deep": {"flag": True}}}
    assert changed.flat()["plugins.solver.max_iter"] == 50
    changed.to_yaml(tmp_path / "config.yaml")
    again = TrainConfig.from_yaml(tmp_path / "config.yaml")
    assert again.plugins == changed.plugins and again.canonical_json() == changed.canonical_json()


@pytest.mark.parametrize(
    ("key", "expected"),
    [
        ("plugins.solver", "'plugins.solver' does not name a plugin setting"),
        ("plugins", "'plugins' does not name a plugin setting"),
        ("plugins.solver.mode.x", "'plugins.solver.mode' is a value, not a section"),
    ],
)
def test_bad_plugin_overrides(key: str, expected: str) -> None:
    config = TrainConfig.from_dict({**BASE, "plugins": {"solver": {"mode": "slow"}}})
    with pytest.raises(ConfigError, match=expected.replace(".", r"\.")):
        config.apply_overrides({key: "1"})


def test_plugin_settings_error_without_a_file_names_only_the_key() -> None:
    config = TrainConfig.from_dict({**BASE, "plugins": {"solver": {"C": -1}}})
    with pytest.raises(
        ConfigError, match=r"^Invalid value for 'plugins\.solver\.C': Input should be greater than 0"
    ):
        config.plugin_settings("solver", SolverSettings)
