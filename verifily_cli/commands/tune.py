"""``verifily tune``: hyperparameter search where every trial is a full run."""

from __future__ import annotations

from enum import Enum
from pathlib import Path
from typing import Optional

import typer

from verifily_cli.errors import guarded
from verifily_cli.options import verbose_option


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
        None,
        "--param",
        metavar="KEY=V1,V2,...",
        help='A config key and the values to try, e.g. "training.learning_rate=1e-4,2e-4". Repeatable.',
    ),
    strategy: Strategy = typer.Option(
        Strategy.grid,
        "--strategy",
        help="Search: grid (every combination), random, or tpe (Optuna's TPE sampler).",
    ),
    max_trials: Optional[int] = typer.Option(
        None,
        "--max-trials",
        help="Most trials to run: required for random and tpe; grid runs every combination unless given.",
    ),
    metric: str = typer.Option(
        "eval_loss",
        "--metric",
        help="Metric to optimise; the direction option says whether lower or higher is better.",
    ),
    direction: Direction = typer.Option(
        Direction.minimize, "--direction", help="Whether a lower or a higher --metric is better."
    ),
    storage: Optional[str] = typer.Option(
        None, "--storage", help="Optuna storage URL shared by several workers."
    ),
    resume: Optional[Path] = typer.Option(
        None, "--resume", help="Continue an interrupted search (runs/tune_<id>)."
    ),
    verbose: bool = verbose_option(),
) -> None:
    """Auto-tune hyperparameters via grid, random or TPE search."""
    with guarded(verbose):
        from verifily_cli.handlers.tune import run_tune

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
