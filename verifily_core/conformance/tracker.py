"""The Tracker suite: a whole run is recorded without raising."""

from __future__ import annotations

from pathlib import Path
from typing import Dict

import pytest

from verifily_core.config import TrainConfig
from verifily_core.conformance.imports import HooksAreLight
from verifily_core.ports import Tracker


class TrackerConformance(HooksAreLight):
    """The Tracker contract; override ``tracker_class`` (and ``tracker_env`` for credentials)."""

    @pytest.fixture
    def tracker_class(self) -> type:
        raise NotImplementedError("override the `tracker_class` fixture to return your tracker class")

    @pytest.fixture
    def tracker_env(self, tmp_path: Path) -> Dict[str, str]:
        """Environment variables set for the test (an offline mode, a local directory...)."""
        return {}

    def test_a_whole_run_is_recorded_without_raising(
        self,
        tracker_class: type[Tracker],
        tracker_env: Dict[str, str],
        tmp_path: Path,
        monkeypatch: pytest.MonkeyPatch,
    ) -> None:
        assert isinstance(tracker_class.PLUGIN_NAME, str) and tracker_class.PLUGIN_NAME
        for name, value in tracker_env.items():
            monkeypatch.setenv(name, value)
        config = TrainConfig.from_dict(
            {"task": "sft", "base_model": "tiny", "trackers": [tracker_class.PLUGIN_NAME]}
        )
        run_dir = tmp_path / "run_x"
        (run_dir / "adapter").mkdir(parents=True)
        (run_dir / "adapter" / "weights.bin").write_bytes(b"\0" * 16)
        tracker = tracker_class(config, run_dir)
        assert isinstance(tracker, Tracker)
        tracker.start("run_x", config.flat())
        for step in (1, 2, 3):
            tracker.log({"train/loss": 1.0 / step}, step)
        tracker.log_artifact(run_dir / "adapter", "adapter")
        tracker.finish({"train_loss": 0.33})
        assert run_dir.is_dir()

    def test_enabled_by_answers_a_bool_and_never_for_a_default_config(
        self, tracker_class: type[Tracker]
    ) -> None:
        """A tracker switched on by its own section must stay off while that section says nothing."""
        default = TrainConfig.from_dict({"task": "sft", "base_model": "tiny", "trackers": []})
        assert tracker_class.enabled_by(default) is False
