"""Registers the MLflow tracker; cheap to import (mlflow itself is imported on start)."""

from __future__ import annotations

from verifily_core.plugins.hookspecs import hookimpl


@hookimpl
def verifily_register_tracker() -> type:
    from verifily_adapters.mlflow_tracker.tracker import MlflowTracker

    return MlflowTracker
