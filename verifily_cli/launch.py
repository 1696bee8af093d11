"""Distributed training: re-launch the same command through Accelerate (issue 7 builds this out)."""

from __future__ import annotations

from pathlib import Path
from typing import Any, Optional


def maybe_relaunch(config: Any, config_path: Path, accelerate_config: Optional[Path], dry_run: bool) -> bool:
    """True when this process handed the run to ``accelerate launch`` and has nothing left to do."""
    if dry_run or not config.compute.distributed:
        return False
    from verifily_core.errors import ConfigError

    raise ConfigError(
        "Distributed training (--distributed / compute.distributed) is not available yet in this build.",
        key="compute.distributed",
        hint="Train on one device for now, or launch with `accelerate launch -m verifily_train.cli train ...`.",
    )
