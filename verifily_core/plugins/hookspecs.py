"""The hooks a Verifily plugin implements: one per port, each returning adapter classes.

A plugin is a module (named by an entry point in the ``verifily`` group of its distribution) with
functions marked ``@hookimpl`` whose names are the hookspecs below, e.g.::

    # my_plugin/hooks.py: imported by `verifily --help`, so import no framework here
    from verifily_core.plugins.hookspecs import hookimpl

    @hookimpl
    def verifily_register_model_backend():
        from my_plugin.backend import MyBackend   # the heavy module, imported only when asked

        return MyBackend

    # pyproject.toml
    [project.entry-points.verifily]
    my-plugin = "my_plugin.hooks"

Each hook returns a class, a list of classes, or None. Every class subclasses its port's ABC and
carries ``PLUGIN_NAME``, the name a config selects it by (``backend: hf``, ``store: local``,
``trackers: [wandb]``); the plugin manager keys classes by it and refuses two with the same name.
The built-in adapters register through these same hooks and entry points.

A plugin may also declare a config section of its own (``verifily_plugin_config_schema``). A hook
name that matches no hookspec (a misspelt one) is reported when the plugins load; see the manager.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, List, Optional, Union

import pluggy

if TYPE_CHECKING:
    from pydantic import BaseModel

    from verifily_core.ports import ArtifactStore, BillingSink, ModelBackend, StudyEngine, Tracker

PROJECT = "verifily"
hookspec = pluggy.HookspecMarker(PROJECT)
hookimpl = pluggy.HookimplMarker(PROJECT)


@hookspec
def verifily_register_model_backend() -> Optional[Union[type[ModelBackend], List[type[ModelBackend]]]]:
    """Model backends (``ModelBackend`` subclasses) this plugin provides; selected by ``backend``.

    Return the class itself, not an instance: the core builds it when a run needs it, so that
    listing plugins never loads a model framework.
    """


@hookspec
def verifily_register_artifact_store() -> Optional[Union[type[ArtifactStore], List[type[ArtifactStore]]]]:
    """Artifact stores (``ArtifactStore`` subclasses) this plugin provides; selected by ``store``."""


@hookspec
def verifily_register_tracker() -> Optional[Union[type[Tracker], List[type[Tracker]]]]:
    """Experiment trackers (``Tracker`` subclasses) this plugin provides; listed in ``trackers``."""


@hookspec
def verifily_register_billing_sink() -> Optional[Union[type[BillingSink], List[type[BillingSink]]]]:
    """Billing sinks (``BillingSink`` subclasses) this plugin provides.

    Every installed sink is asked ``from_environment`` at the start of a run; the ones whose
    environment variable is set receive the run's usage events.
    """


@hookspec
def verifily_plugin_config_schema() -> Optional[type[BaseModel]]:
    """The pydantic model of this plugin's own config section, ``plugins.<entry point name>``.

    Why a schema rather than free-form settings: the core checks the section when a run is wired
    (unknown keys and bad values are ``ConfigError``s naming ``plugins.<name>.<key>`` and the file),
    so a typo fails before any work starts instead of being ignored. Subclass
    ``verifily_core.config.PluginSettings`` (unknown keys refused, no booleans as numbers) and
    define it outside the hooks module; the plugin reads its checked values with
    ``config.plugin_settings("<name>", Model)``.
    """


@hookspec
def verifily_register_study_engine() -> Optional[Union[type[StudyEngine], List[type[StudyEngine]]]]:
    """Study engines (``StudyEngine`` subclasses) this plugin provides: where ``verifily tune`` keeps
    its studies (the built-in one is ``optuna``)."""


__all__ = [
    "PROJECT",
    "hookimpl",
    "hookspec",
    "verifily_plugin_config_schema",
    "verifily_register_artifact_store",
    "verifily_register_billing_sink",
    "verifily_register_model_backend",
    "verifily_register_study_engine",
    "verifily_register_tracker",
]
