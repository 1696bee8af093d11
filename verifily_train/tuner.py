"""``from verifily_train.tuner import run_tuning`` (the guide's import)."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any, Dict, Optional, Sequence, Union

from verifily_core.config import TrainConfig

if TYPE_CHECKING:  # the search machinery loads on call
    from verifily_core.domain.tuning import BestTrial


def run_tuning(
    config_path: Union[str, Path, TrainConfig],
    param_grid: Dict[str, Sequence[Any]],
    strategy: str = "grid",
    max_trials: Optional[int] = None,
    metric: str = "eval_loss",
    direction: str = "minimize",
    storage: Optional[str] = None,
) -> BestTrial:
    """Search hyperparameters; every trial is a full training run in the config's ``output.dir``.

    Returns the best trial: ``{"run_id", "score", "params", "artifact_path", "tune_dir", "trials"}``
    (``trials``: how many were run). Never prints; raises ``VerifilyError`` subclasses (``TuneError``
    for a bad space or search, before any trial runs). ``storage`` is an Optuna RDB URL shared by
    several workers; a search is resumed with ``verifily tune --resume <tune_dir>``.
    """
    from verifily_core.bootstrap import build_training, open_store, runs_location, study_engine
    from verifily_core.domain.search import space_from_grid
    from verifily_core.services.tuning.tune import TuneSettings, tune

    config = config_path if isinstance(config_path, TrainConfig) else TrainConfig.from_yaml(config_path)
    space = space_from_grid(param_grid, config)
    settings = TuneSettings(
        strategy=strategy, metric=metric, direction=direction, max_trials=max_trials, storage=storage
    )
    path = None if isinstance(config_path, TrainConfig) else Path(config_path)
    report = tune(
        config,
        space,
        settings,
        store=open_store(runs_location(config), config.store),
        deps_factory=build_training,
        engine=study_engine(),
        config_path=path,
    )
    return report.as_dict()


__all__ = ["run_tuning"]
