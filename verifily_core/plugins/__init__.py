"""Plugin discovery and lookup: hookspecs, the registry, and the rows of ``verifily plugins``."""

from verifily_core.plugins.catalog import PluginInfo
from verifily_core.plugins.hookspecs import hookimpl, hookspec
from verifily_core.plugins.manager import (
    DISABLE_ENV,
    ENTRY_POINT_GROUP,
    PluginRegistry,
    disabled_plugin_names,
    registry,
)

__all__ = [
    "DISABLE_ENV",
    "ENTRY_POINT_GROUP",
    "PluginInfo",
    "PluginRegistry",
    "disabled_plugin_names",
    "hookimpl",
    "hookspec",
    "registry",
]
