"""The Tracker port: experiment trackers (TensorBoard, WandB, ...).

Contract for implementers
-------------------------
* Built as ``Tracker(config, run_dir)`` where ``config`` is the run's :class:`TrainConfig` and
  ``run_dir`` the local run folder; ``PLUGIN_NAME`` is the name listed in the config's ``trackers``.
* ``enabled_by(config)`` (optional, a classmethod) lets a tracker with a config section of its own
  switch itself on from it without being listed (``wandb.enabled: true`` does); the default: only
  when listed. ``bootstrap`` asks every installed tracker, so no tracker name is written in the core.
* ``start(run_id, config)`` receives the flattened config (``dotted.key -> value``);
  ``log(metrics, step)`` scalar metrics at a global step; ``log_artifact(path, name)`` the run's
  weights folder once trained (the backend's first weights entry that exists: ``adapter/`` of a LoRA
  run, ``model/`` of a full fine-tune) (optional: a tracker uploads it when its own section asks, as
  ``wandb.log_model`` and ``mlflow.log_model`` do); ``finish(summary)`` the final metrics, once the
  evaluation and ``hashes.json`` are written. Called on the main process only.
* A tracker must never fail a run: raise ``TrackerError`` and the train use case logs it and
  disables that tracker for the rest of the run.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from pathlib import Path
from typing import Any, ClassVar, Mapping

from verifily_core.config import TrainConfig


class Tracker(ABC):
    PLUGIN_NAME: ClassVar[str]

    def __init__(self, config: TrainConfig, run_dir: Path) -> None:
        self.config = config
        self.run_dir = Path(run_dir)

    @classmethod
    def enabled_by(cls, config: TrainConfig) -> bool:
        """Whether ``config`` switches this tracker on without listing it in ``trackers`` (from the
        tracker's own section); cheap and import-free. The default: only a listed tracker runs."""
        return False

    @abstractmethod
    def start(self, run_id: str, config: Mapping[str, Any]) -> None:
        """Open the tracker's run with the flattened config."""

    @abstractmethod
    def log(self, metrics: Mapping[str, float], step: int) -> None:
        """Record scalar metrics at a global step."""

    def log_artifact(self, path: Path, name: str) -> None:
        """Upload a folder (e.g. the adapter); trackers without artifacts ignore it."""

    @abstractmethod
    def finish(self, summary: Mapping[str, Any]) -> None:
        """Record final metrics and close."""
