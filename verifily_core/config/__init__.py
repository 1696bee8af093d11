"""The training config: every key of the user guide's section 4, typed, with its default.

Why a schema of our own rather than passing YAML through: users write configs by hand, and the
most common failure of fine-tuning tools is a misspelt key that is silently ignored. Here every
unknown key is an error with a did-you-mean, every bad value names its dotted key, and the frozen
copy saved in a run folder has one canonical form so that its hash does not depend on key order or
on how a number was spelt (``2e-4`` and ``0.0002`` hash the same).

Extensions to the guide's schema (documented in docs/config.md): ``backend``, ``store`` and
``trackers`` pick plugins by name; ``plugins.<name>`` holds a plugin's own section (checked against
the schema the plugin declares, a ``PluginSettings`` subclass); ``lora.modules_to_save`` keeps whole
modules trainable.
"""

from __future__ import annotations

from verifily_core.config.sections import (
    LR_SCHEDULERS,
    Compute,
    DataPaths,
    Eval,
    Lora,
    Mlflow,
    Output,
    PluginSettings,
    Training,
    Wandb,
)
from verifily_core.config.train_config import TaskName, TrainConfig, flatten

__all__ = [
    "LR_SCHEDULERS",
    "Compute",
    "DataPaths",
    "Eval",
    "Lora",
    "Mlflow",
    "Output",
    "PluginSettings",
    "TaskName",
    "TrainConfig",
    "Training",
    "Wandb",
    "flatten",
]
