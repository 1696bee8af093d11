"""A run's frozen ``config.yaml`` read back as a :class:`TrainConfig` (resume, re-run, evaluate)."""

from __future__ import annotations

import yaml

from verifily_core.config import TrainConfig
from verifily_core.config.yaml_load import safe_load
from verifily_core.domain.runs import CONFIG_FILE
from verifily_core.errors import StoreError
from verifily_core.ports.artifact_store import ArtifactStore


def frozen_config(store: ArtifactStore, run_id: str) -> TrainConfig:
    """The config a run was started with (overrides applied); ``StoreError`` when the file is missing
    or is not valid YAML (an alias bomb included), ``ConfigError`` when its keys are wrong."""
    source = store.local_dir(run_id) / CONFIG_FILE
    try:
        data = safe_load(store.read_text(run_id, CONFIG_FILE))
    except yaml.YAMLError as exc:
        problem = getattr(exc, "problem", None) or type(exc).__name__
        raise StoreError(
            f"{source}: not a valid frozen config ({problem}).",
            hint="The run folder was edited by hand or damaged; start a new run from its config.",
        ) from None
    return TrainConfig.from_dict(data)
