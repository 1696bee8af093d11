"""``from verifily_train.tuner import run_tuning`` (the guide's import)."""

from __future__ import annotations

from typing import Any, Dict, Optional, Sequence


def run_tuning(
    config_path: str,
    param_grid: Dict[str, Sequence[Any]],
    strategy: str = "grid",
    max_trials: Optional[int] = None,
    metric: str = "eval_loss",
    **kwargs: Any,
) -> Dict[str, Any]:
    """Search hyperparameters; every trial is a full run. Returns the best trial's dict."""
    from verifily_core.errors import TuneError

    raise TuneError("Hyperparameter search (run_tuning) is not available yet in this build.")


__all__ = ["run_tuning"]
