"""A run's frozen ``config.yaml`` read back as a :class:`TrainConfig` (resume, re-run, evaluate)."""

from __future__ import annotations

import yaml

from verifily_core.config import TrainConfig
from verifily_core.domain.runs import CONFIG_FILE
from verifily_core.ports.artifact_store import ArtifactStore


def frozen_config(store: ArtifactStore, run_id: str) -> TrainConfig:
    """The config a run was started with (overrides applied); ``StoreError`` when the file is missing."""
    return TrainConfig.from_dict(yaml.safe_load(store.read_text(run_id, CONFIG_FILE)))
