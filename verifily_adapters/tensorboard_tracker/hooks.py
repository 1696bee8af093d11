"""Registers the TensorBoard tracker; cheap to import (tensorboard is imported on start)."""

from __future__ import annotations

from verifily_core.plugins.hookspecs import hookimpl


@hookimpl
def verifily_register_tracker() -> type:
    from verifily_adapters.tensorboard_tracker.tracker import TensorBoardTracker

    return TensorBoardTracker
