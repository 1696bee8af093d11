"""Registers the WandB tracker; cheap to import (wandb itself is imported on start)."""

from __future__ import annotations

from verifily_core.plugins.hookspecs import hookimpl


@hookimpl
def verifily_register_tracker() -> type:
    from verifily_adapters.wandb_tracker.tracker import WandbTracker

    return WandbTracker
