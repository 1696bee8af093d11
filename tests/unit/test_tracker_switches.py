"""A tracker switches itself on from its own config section (``Tracker.enabled_by``); bootstrap
asks every installed tracker, so no tracker's name is written in the core."""

from __future__ import annotations

from typing import Any

from verifily_adapters.wandb_tracker.tracker import WandbTracker
from verifily_core.bootstrap import tracker_names
from verifily_core.config import TrainConfig
from verifily_core.plugins.hookspecs import hookimpl
from verifily_core.plugins.manager import registry
from verifily_core.ports import Tracker
from verifily_core.testing import RecordingTracker


class AlwaysOn(RecordingTracker):
    PLUGIN_NAME = "always-on"

    @classmethod
    def enabled_by(cls, config: TrainConfig) -> bool:
        return config.task == "sft"


class _Plugin:
    @hookimpl
    def verifily_register_tracker(self) -> type[Tracker]:
        return AlwaysOn


def _config(**extra: Any) -> TrainConfig:
    return TrainConfig.from_dict({"task": "sft", "base_model": "m", **extra})


def test_listed_trackers_come_first_then_those_their_section_switches_on() -> None:
    assert Tracker.enabled_by(_config()) is False
    assert WandbTracker.enabled_by(_config(wandb={"enabled": True}))
    assert tracker_names(_config(trackers=["tensorboard"])) == ["tensorboard"]
    assert tracker_names(_config(trackers=["tensorboard"], wandb={"enabled": True})) == [
        "tensorboard",
        "wandb",
    ]
    assert tracker_names(_config(trackers=["wandb"], wandb={"enabled": True})) == ["wandb"]


def test_a_plugin_tracker_declares_its_own_switch() -> None:
    plugin = _Plugin()
    registry.register(plugin, name="always-on-tracker")
    try:
        assert tracker_names(_config(trackers=[])) == ["always-on"]
        assert "always-on" not in tracker_names(_config(task="classification"))
    finally:
        registry.unregister(plugin)
