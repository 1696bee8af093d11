"""A config's ``plugins:`` sections checked against the schemas the installed plugins declare.

Why here and not in ``TrainConfig.from_yaml``: loading a config stays free of plugin discovery
(it is read for diffs, dashboards and seals on machines that may lack a run's plugins), so the
check runs where a run is wired to its plugins (``bootstrap.build_training``), before anything is
trained: the same moment an unknown ``backend:`` name fails.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, List

from verifily_core.config.train_config import PLUGINS_KEY, TrainConfig
from verifily_core.config.validation import suggest
from verifily_core.errors import ConfigError

if TYPE_CHECKING:
    from verifily_core.plugins.manager import PluginRegistry


def check_plugin_settings(config: TrainConfig, registry: PluginRegistry) -> None:
    """Raise ``ConfigError`` for the first ``plugins.<name>`` section that is not valid.

    A section must name a loaded plugin that declares a schema (``verifily_plugin_config_schema``)
    and satisfy that schema; an unknown name lists the installed plugins.
    """
    if not config.plugins:
        return
    schemas = registry.config_schemas()
    for name in config.plugins:
        schema = schemas.get(name)
        if schema is None:
            raise _no_schema(config, name, registry, sorted(schemas))
        config.plugin_settings(name, schema)


def _no_schema(
    config: TrainConfig, name: str, registry: PluginRegistry, with_settings: List[str]
) -> ConfigError:
    key = f"{PLUGINS_KEY}.{name}"
    takes = ", ".join(with_settings) or "none of the installed plugins"
    unloaded = registry.unloaded_plugins()
    if name in unloaded:
        return ConfigError(
            f"'{key}'{config.where} configures plugin {name!r}, which is not loaded ({unloaded[name]}).",
            key=key,
            hint=f"Fix or enable the plugin (`verifily plugins` shows why), or remove '{key}'.",
        )
    installed = registry.plugin_names()
    if name in installed:
        return ConfigError(
            f"'{key}'{config.where}: plugin {name!r} declares no settings of its own.",
            key=key,
            hint=f"Remove '{key}'. Plugins that take a section: {takes}.",
        )
    return ConfigError(
        f"Unknown plugin {name!r} under '{PLUGINS_KEY}'{config.where}.{suggest(name, installed)}",
        key=key,
        hint=f"Installed plugins: {', '.join(installed)} (those that take a section: {takes}). "
        "Install the plugin or remove the section.",
    )
