"""``verifily tune``: hyperparameter search where every trial is a full run."""

from __future__ import annotations

from enum import Enum
from pathlib import Path
from typing import Optional

import typer

from verifily_cli.errors import guarded


class Strategy(str, Enum):
    grid = "grid"
    random = "random"
    tpe = "tpe"


class Direction(str, Enum):
    minimize = "minimize"
    maximize = "maximize"


def tune_command(
    config: Optional[Path] = typer.Option(
        None, "--config", "-c", help="Base training YAML config (required unless --resume)."
    ),
    param: Optional[list[str]] = typer.Option(
        None, "--param", help='Search spec, repeatable: "dotted.key=v1,v2,v3".'
    ),
    strategy: Strategy = typer.Option(Strategy.grid, "--strategy", help="grid / random / tpe."),
    max_trials: Optional[int] = typer.Option(None, "--max-trials", help="Max trials (required for random)."),
    metric: str = typer.Option(
        "eval_loss", "--metric", help="Metric to optimise (default: eval_loss, minimised)."
    ),
    direction: Direction = typer.Option(Direction.minimize, "--direction", help="minimize / maximize."),
    storage: Optional[str] = typer.Option(
        None, "--storage", help="Optuna storage URL shared by several workers."
    ),
    resume: Optional[Path] = typer.Option(
        None, "--resume", help="Continue an interrupted search (runs/tune_<id>)."
    ),
    verbose: bool = typer.Option(False, "--verbose", "-v", help="Enable DEBUG logging and tracebacks."),
) -> None:
    """Auto-tune hyperparameters via grid, random or TPE search."""
    with guarded(verbose):
        from verifily_cli.tuning import run_tune

        run_tune(
            config=config,
            params=param or [],
            strategy=strategy.value,
            max_trials=max_trials,
            metric=metric,
            direction=direction.value,
            storage=storage,
            resume=resume,
        )
