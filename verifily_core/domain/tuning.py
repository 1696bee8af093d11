"""A tune folder as data: its file names, the frozen search (``tune_spec.json``), trial records and
the results document (``tune_results.json``).

Why a frozen spec: ``verifily tune --resume runs/tune_<id>`` and extra workers must run exactly
the search that was started (same base config, space, strategy, metric, budget, seed) even if the
YAML file was edited since; everything they need is in the spec, nothing is read from the YAML.
"""

from __future__ import annotations

import hashlib
import json
import math
import random
from dataclasses import asdict, dataclass, field
from typing import Any, Dict, List, Mapping, Optional, TypedDict

from verifily_core.config import TrainConfig
from verifily_core.domain.metrics import available_metrics, scalar_metrics
from verifily_core.domain.search import Scalar, SearchSpace
from verifily_core.errors import TuneError

TUNE_PREFIX = "tune"
TUNE_SPEC = "tune_spec.json"
TUNE_RESULTS = "tune_results.json"
STUDY_DB = "study.db"
STRATEGIES = ("grid", "random", "tpe")
DIRECTIONS = ("minimize", "maximize")
LOSS_METRICS = ("eval_loss", "train_loss")
SPEC_VERSION = 1


def trial_run_name(number: int) -> str:
    """The config ``name`` of trial ``number``: its run folder is ``run_<date>_tune_trial_<k>``."""
    return f"tune_trial_{number}"


@dataclass(frozen=True)
class TuneSettings:
    """How to search: the CLI flags and ``run_tuning`` arguments other than the space."""

    strategy: str = "grid"
    metric: str = "eval_loss"
    direction: str = "minimize"
    max_trials: Optional[int] = None
    storage: Optional[str] = None


def plan_trials(space: SearchSpace, settings: TuneSettings) -> int:
    """How many trials the search runs; TuneError for a bad strategy, direction or budget."""
    if settings.strategy not in STRATEGIES:
        raise TuneError(
            f"Unknown strategy {settings.strategy!r}.", hint=f"Use one of: {', '.join(STRATEGIES)}."
        )
    if settings.direction not in DIRECTIONS:
        raise TuneError(
            f"Unknown direction {settings.direction!r}.", hint=f"Use one of: {', '.join(DIRECTIONS)}."
        )
    if settings.max_trials is not None and settings.max_trials < 1:
        raise TuneError(f"--max-trials must be at least 1, got {settings.max_trials}.")
    if settings.max_trials is None and settings.strategy != "grid":
        raise TuneError(
            f"--strategy {settings.strategy} needs --max-trials N (the space has {space.size} combinations).",
            hint="Say how many trials to run, e.g. --max-trials 10; grid search runs them all.",
        )
    return min(settings.max_trials or space.size, space.size)


def check_metric(config: TrainConfig, metric: str, where: str = "") -> None:
    """Whether every trial of ``config`` can produce ``metric``; TuneError saying how to fix it."""
    if metric == "eval_loss" and not config.data_paths.val:
        raise TuneError(
            f"--metric eval_loss needs a validation set, but data_paths.val is not set{where}.",
            hint="Add 'data_paths.val: <val.jsonl>' to the config (each trial computes its loss "
            "on it), or use --metric train_loss.",
        )
    if metric in LOSS_METRICS:
        return
    known = available_metrics(config.task)
    if metric not in known or not scalar_metrics(config.task, [metric]):
        names = [*LOSS_METRICS, *scalar_metrics(config.task, known)]
        raise TuneError(
            f"Unknown metric {metric!r} for task {config.task}.", hint=f"Use one of: {', '.join(names)}."
        )
    if not config.eval.enabled or not config.data_paths.test:
        why = "eval.enabled is false" if not config.eval.enabled else "data_paths.test is not set"
        raise TuneError(
            f"--metric {metric} comes from each trial's evaluation on the test set, but {why}{where}.",
            hint="Set data_paths.test and eval.enabled: true in the config, or use --metric eval_loss.",
        )
    if config.eval.metrics and metric not in config.eval.metrics:
        listed = ", ".join(config.eval.metrics)
        raise TuneError(
            f"--metric {metric} is not among eval.metrics{where} ({listed}).",
            hint=f"Add {metric} to eval.metrics, or set eval.metrics: null.",
        )


def trial_config(base: TrainConfig, params: Mapping[str, Scalar], number: int) -> TrainConfig:
    """The config of trial ``number``: the base config, the trial's values, its run name."""
    return base.apply_overrides({**params, "name": trial_run_name(number)})


def trial_plan(
    space: SearchSpace,
    strategy: str,
    n_trials: int,
    seed: int,
) -> Optional[List[Dict[str, Scalar]]]:
    """The trials of a grid search (every combination, first key slowest, cut at ``n_trials``) or of
    a random one (a sample without repeats, seeded); None for TPE, which proposes values as it goes."""
    if strategy == "tpe":
        return None
    combos = space.combinations()
    if strategy == "random":
        random.Random(seed).shuffle(combos)
    return combos[:n_trials]


def metric_value(metrics: Mapping[str, Any], metric: str) -> float:
    """The score of a finished run: a loss from the run's metrics, anything else from its evaluation."""
    source = metrics if metric in LOSS_METRICS else (metrics.get("eval") or {})
    value = source.get(metric)
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        every = {**metrics, **(metrics.get("eval") or {})}
        have = sorted(k for k, v in every.items() if isinstance(v, (int, float)))
        raise TuneError(f"the run produced no {metric} (it has: {', '.join(have) or 'no metrics'})")
    if not math.isfinite(value):
        raise TuneError(f"{metric} is {value} (training diverged?)")
    return float(value)


@dataclass(frozen=True)
class TuneSpec:
    """Everything a worker needs to run (or resume) a search; ``tune_spec.json``."""

    base_config: Dict[str, Any]
    source_dir: str
    config_path: Optional[str]
    params: Dict[str, List[Scalar]]
    strategy: str
    metric: str
    direction: str
    max_trials: Optional[int]
    n_trials: int
    seed: int
    storage: Optional[str]
    created_at: str
    version: int = SPEC_VERSION

    @property
    def space(self) -> SearchSpace:
        return SearchSpace.from_dict(self.params)

    @property
    def plan(self) -> Optional[List[Dict[str, Scalar]]]:
        return trial_plan(self.space, self.strategy, self.n_trials, self.seed)

    @property
    def study_name(self) -> str:
        """Derived from the search itself, so that workers started with the same command (same
        config, params, strategy, metric, budget) join the same study in a shared ``--storage``."""
        what = {
            k: getattr(self, k)
            for k in ("base_config", "params", "strategy", "metric", "direction", "n_trials", "seed")
        }
        digest = hashlib.sha256(json.dumps(what, sort_keys=True, default=str).encode("utf-8")).hexdigest()
        return f"verifily-tune-{digest[:16]}"

    def to_dict(self) -> Dict[str, Any]:
        return {**asdict(self), "study_name": self.study_name}

    @classmethod
    def from_dict(cls, data: Any, *, where: str) -> TuneSpec:
        if not isinstance(data, Mapping):
            raise TuneError(f"{where}: not a tune spec (expected a JSON object).")
        names = [f for f in cls.__dataclass_fields__ if f != "version"]
        missing = [n for n in names if n not in data]
        if missing:
            raise TuneError(
                f"{where}: not a complete tune spec (missing {', '.join(missing)}).",
                hint="Pass a folder created by `verifily tune` (runs/tune_<id>).",
            )
        if data.get("version", SPEC_VERSION) > SPEC_VERSION:
            raise TuneError(
                f"{where} was written by a newer Verifily Train (spec {data['version']}).",
                hint="Upgrade verifily-train to resume this search.",
            )
        return cls(**{n: data[n] for n in names})


@dataclass
class TrialRecord:
    """One trial as ``tune_results.json`` lists it.

    ``status``: ``completed``, ``failed`` (its ``error`` says why; the search went on),
    ``interrupted`` (its worker stopped; the trial was queued again), ``running`` or ``queued``.
    """

    number: int
    params: Dict[str, Scalar]
    status: str
    score: Optional[float] = None
    run_id: Optional[str] = None
    run_path: Optional[str] = None
    error: Optional[str] = None
    metrics: Dict[str, float] = field(default_factory=dict)
    worker: Optional[str] = None
    started_at: Optional[str] = None
    duration_seconds: Optional[float] = None
    retry_of: Optional[int] = None

    def to_dict(self) -> Dict[str, Any]:
        return asdict(self)


def best_trial(trials: List[TrialRecord], direction: str) -> Optional[TrialRecord]:
    """The completed trial with the best score; ties go to the earliest trial."""
    scored = [t for t in trials if t.status == "completed" and t.score is not None and math.isfinite(t.score)]
    if not scored:
        return None
    sign = 1.0 if direction == "minimize" else -1.0
    return min(scored, key=lambda t: (sign * float(t.score or 0.0), t.number))


class BestTrial(TypedDict):
    """What ``run_tuning`` returns (the guide indexes it: ``best["run_id"]``): the best trial of a search."""

    run_id: Optional[str]
    score: Optional[float]
    params: Dict[str, Scalar]
    artifact_path: Optional[str]
    tune_dir: str
    trials: int  # how many trials the search holds


@dataclass
class TuneReport:
    """Where a search stands: every trial, the best one, and where it all lives."""

    tune_id: str
    tune_dir: str
    spec: TuneSpec
    trials: List[TrialRecord]

    @property
    def best(self) -> Optional[TrialRecord]:
        return best_trial(self.trials, self.spec.direction)

    def count(self, status: str) -> int:
        return sum(1 for t in self.trials if t.status == status)

    @property
    def finished(self) -> bool:
        """No trial left to run: every planned trial completed or failed."""
        done = self.count("completed") + self.count("failed")
        return done >= self.spec.n_trials and not any(t.status in ("running", "queued") for t in self.trials)

    def as_dict(self) -> BestTrial:
        """The guide's ``run_tuning`` result: the best trial's ``run_id``, ``score``, ``params``."""
        best = self.best
        return {
            "run_id": best.run_id if best else None,
            "score": best.score if best else None,
            "params": dict(best.params) if best else {},
            "artifact_path": best.run_path if best else None,
            "tune_dir": self.tune_dir,
            "trials": len(self.trials),
        }

    def results_doc(self) -> Dict[str, Any]:
        """``tune_results.json``: enough to read the search without Optuna."""
        best = self.best
        spec = self.spec
        return {
            "tune_id": self.tune_id,
            "study_name": spec.study_name,
            "strategy": spec.strategy,
            "metric": spec.metric,
            "direction": spec.direction,
            "params": spec.params,
            "n_trials": spec.n_trials,
            "counts": {s: self.count(s) for s in ("completed", "failed", "interrupted", "running", "queued")},
            "finished": self.finished,
            "best": None if best is None else {**best.to_dict(), "metric": spec.metric},
            "trials": [t.to_dict() for t in self.trials],
            "resume": f"verifily tune --resume {self.tune_dir}",
        }


__all__ = [
    "DIRECTIONS",
    "LOSS_METRICS",
    "STRATEGIES",
    "STUDY_DB",
    "TUNE_PREFIX",
    "TUNE_RESULTS",
    "TUNE_SPEC",
    "TrialRecord",
    "TuneReport",
    "TuneSettings",
    "TuneSpec",
    "best_trial",
    "check_metric",
    "metric_value",
    "plan_trials",
    "trial_config",
    "trial_plan",
    "trial_run_name",
]
