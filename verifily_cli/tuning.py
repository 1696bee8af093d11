"""What ``verifily tune`` does once its flags are parsed (built by issue 6)."""

from __future__ import annotations

from pathlib import Path
from typing import Optional


def run_tune(
    *, config: Optional[Path], params: list[str], strategy: str, max_trials: Optional[int], metric: str,
    direction: str, storage: Optional[str], resume: Optional[Path],
) -> None:
    from verifily_core.errors import TuneError

    raise TuneError("Hyperparameter search (verifily tune) is not available yet in this build.",
                    hint="Train single runs with `verifily train --config ... --lr ...` meanwhile.")
