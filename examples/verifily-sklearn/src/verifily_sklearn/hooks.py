"""Entry point module: imported by every `verifily` command, so it imports no scikit-learn."""

from __future__ import annotations

from verifily_core.plugins.hookspecs import hookimpl


@hookimpl
def verifily_register_model_backend() -> type:
    from verifily_sklearn.backend import SklearnBackend

    return SklearnBackend


@hookimpl
def verifily_plugin_config_schema() -> type:
    from verifily_sklearn.settings import SklearnSettings

    return SklearnSettings
