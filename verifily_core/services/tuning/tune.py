"""The tune use case: a hyperparameter search on Optuna where every trial is a full training run.

Why Optuna rather than a loop of ``train()`` calls: its RDB storage keeps the study outside the
process, so a search survives a crash (``resume``), several workers share one study through any
SQLAlchemy URL, and queued trials are handed out atomically, which is what lets workers split a grid
without running a combination twice (see ``tune_study``). Optuna is pure Python, imported lazily.

A search, as data flows: everything is checked first (space, strategy, metric, every combination's
config, the data), then a tune folder ``<output.dir>/tune_<YYYYMMDD_HHMMSS>_<hex>/`` receives
``tune_spec.json`` (the frozen search) and ``study.db``; each trial trains a run named
``tune_trial_<k>`` in ``output.dir``; ``tune_results.json`` is rewritten atomically after each trial.
A trial that fails is recorded with its error and the search goes on; a trial whose worker died
(Ctrl-C, kill, lost machine) is marked ``interrupted`` and queued again.
"""

from __future__ import annotations

import json
import random
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Dict, Mapping, Optional, Sequence, Tuple

from verifily_core.config import TrainConfig
from verifily_core.domain.runs import iso, utc_now
from verifily_core.domain.search import Scalar, SearchSpace
from verifily_core.domain.training import TrainCallbacks
from verifily_core.domain.tuning import (
    STUDY_DB,
    TUNE_PREFIX,
    TUNE_RESULTS,
    TUNE_SPEC,
    TrialRecord,
    TuneReport,
    TuneSettings,
    TuneSpec,
    check_metric,
    metric_value,
    plan_trials,
    trial_config,
)
from verifily_core.errors import ConfigError, TuneError, VerifilyError
from verifily_core.ports.artifact_store import ArtifactStore
from verifily_core.services.training.dependencies import DepsFactory
from verifily_core.services.training.prepare import prepare
from verifily_core.services.training.train import train
from verifily_core.services.tuning import study as ts

SHARED_FOLDER_WAIT_S = 30.0


@dataclass
class TuneCallbacks:
    """Progress without printing: the CLI draws bars, tests record. Every callback is optional."""

    on_begin: Optional[Callable[[TuneReport], None]] = None
    on_trial_start: Optional[Callable[[int, Dict[str, Scalar]], None]] = None
    on_trial_end: Optional[Callable[[TrialRecord], None]] = None
    train: Optional[TrainCallbacks] = None


class _TrialFailed(Exception):
    """A trial's training or scoring failed: Optuna records it as FAIL and the search goes on."""


# ---------------------------------------------------------------------- checks before any trial


def _preflight(
    config: TrainConfig,
    space: SearchSpace,
    metric: str,
    deps_factory: DepsFactory,
    where: str,
) -> None:
    """Every combination's config and metric, then the data and model once: before any trial runs."""
    configs = []
    for combo in space.combinations():
        try:
            configs.append(trial_config(config, combo, 0))
        except ConfigError as exc:
            raise TuneError(
                f"The combination {combo} is not a valid config: {exc.message}", hint=exc.hint
            ) from None
    for cfg in configs:
        check_metric(cfg, metric, where)
    prepare(configs[0], deps_factory(configs[0]).backend)
    checked = {_inputs_of(configs[0])}
    for combo, cfg in zip(space.combinations(), configs):
        if _inputs_of(cfg) in checked:
            continue
        checked.add(_inputs_of(cfg))
        try:
            prepare(cfg, deps_factory(cfg).backend)
        except VerifilyError as exc:
            raise TuneError(f"The combination {combo} cannot train: {exc.message}", hint=exc.hint) from None


def _inputs_of(config: TrainConfig) -> str:
    """What ``prepare`` checks (task, backend, model, data): combinations sharing it are checked once."""
    data = config.to_dict()
    return json.dumps({k: data.get(k) for k in ("task", "backend", "base_model", "data_paths")}, default=str)


# ---------------------------------------------------------------------- entry points


def tune(
    config: TrainConfig,
    space: SearchSpace,
    settings: TuneSettings,
    *,
    store: ArtifactStore,
    deps_factory: DepsFactory,
    callbacks: Optional[TuneCallbacks] = None,
    config_path: Optional[Path] = None,
) -> TuneReport:
    """Start a search (or join one in a shared ``settings.storage``); ``store`` holds the tune folder."""
    n_trials = plan_trials(space, settings)
    _preflight(config, space, settings.metric, deps_factory, f" in {config_path}" if config_path else "")
    spec = TuneSpec(
        base_config=config.to_dict(),
        source_dir=str(config.source_dir or Path.cwd()),
        config_path=str(Path(config_path).resolve()) if config_path else None,
        params=space.to_dict(),
        strategy=settings.strategy,
        metric=settings.metric,
        direction=settings.direction,
        max_trials=settings.max_trials,
        n_trials=n_trials,
        seed=config.seed,
        storage=settings.storage,
        created_at=iso(utc_now()),
    )
    return _Search(spec, store, deps_factory, callbacks or TuneCallbacks()).run(tune_id=None)


def resume(
    tune_id: str,
    *,
    store: ArtifactStore,
    deps_factory: DepsFactory,
    callbacks: Optional[TuneCallbacks] = None,
) -> TuneReport:
    """Continue the search of an existing tune folder (also: one more worker on its study)."""
    where = f"{store.root}/{tune_id}/{TUNE_SPEC}"
    if not store.exists(tune_id, TUNE_SPEC):
        raise TuneError(
            f"{store.root}/{tune_id} is not a tune folder (no {TUNE_SPEC}).",
            hint="Pass a folder created by `verifily tune`, e.g. --resume runs/tune_20260208_143022_a1b2c3.",
        )
    spec = TuneSpec.from_dict(store.read_json(tune_id, TUNE_SPEC), where=where)
    return _Search(spec, store, deps_factory, callbacks or TuneCallbacks()).run(tune_id=tune_id)


# ---------------------------------------------------------------------- one worker


class _Search:
    """One worker's part of a search: opens the study, recovers dead trials, runs trials."""

    def __init__(
        self, spec: TuneSpec, store: ArtifactStore, deps_factory: DepsFactory, callbacks: TuneCallbacks
    ) -> None:
        self.spec = spec
        self.space = spec.space
        self.plan = spec.plan
        self.base = TrainConfig.from_dict(spec.base_config, source=Path(spec.source_dir) / TUNE_SPEC)
        self.store = store
        self.deps_factory = deps_factory
        self.callbacks = callbacks
        self.tune_id = ""
        self.storage: Any = None

    def run(self, *, tune_id: Optional[str]) -> TuneReport:
        study = None
        if tune_id is None and self.spec.storage:
            study, created = self._open(self.spec.storage, create=True)
            tune_id = None if created else self._shared_folder(study)
        new_folder = tune_id is None
        if tune_id is None:
            tune_id = self.store.create_run(prefix=TUNE_PREFIX).run_id
            self.store.write_json(tune_id, TUNE_SPEC, self.spec.to_dict())
        self.tune_id = tune_id
        if study is None:
            url = self.spec.storage or f"sqlite:///{self.store.local_dir(tune_id) / STUDY_DB}"
            study, _ = self._open(url, create=new_folder)
        ts.register(study)
        ts.recover(study, self.storage, self.spec.study_name, self.plan)
        if self.plan is not None:
            ts.ensure_plan(study, self.plan)
        if "tune_id" not in study.user_attrs:  # last: joining workers wait for it, so the plan is queued
            study.set_user_attr("tune_id", tune_id)
        trials = study.get_trials(deepcopy=False)
        self._write(trials)
        if self.callbacks.on_begin:
            self.callbacks.on_begin(self._report(trials))
        try:
            if not self._budget_spent(trials):
                study.optimize(
                    self._objective, catch=(_TrialFailed,), callbacks=[self._after_trial], gc_after_trial=True
                )
        finally:
            trials = study.get_trials(deepcopy=False)
            self._write(trials)
        return self._final(trials)

    def _open(self, url: str, *, create: bool) -> Tuple[Any, bool]:
        """The study, and whether this worker created it (and so names the tune folder)."""
        optuna = ts.optuna_module()
        # planned trials carry fixed values: the sampler only matters for TPE
        sampler = (
            optuna.samplers.TPESampler(seed=self.spec.seed)
            if self.plan is None
            else optuna.samplers.RandomSampler(seed=self.spec.seed)
        )
        self.storage = ts.open_storage(url, self._requeue_stale)
        if create:
            try:
                return optuna.create_study(
                    study_name=self.spec.study_name,
                    storage=self.storage,
                    sampler=sampler,
                    direction=self.spec.direction,
                ), True
            except optuna.exceptions.DuplicatedStudyError:
                pass  # another worker started this search: join it
        try:
            study = optuna.load_study(study_name=self.spec.study_name, storage=self.storage, sampler=sampler)
        except KeyError:
            raise TuneError(
                f"The storage {ts.redact(url)} holds no study {self.spec.study_name}.",
                hint="Resume with the tune folder and storage the search started with.",
            ) from None
        return study, False

    def _requeue_stale(self, study: Any, trial: Any) -> None:
        """Optuna's callback for a trial whose worker stopped sending heartbeats."""
        ts.requeue(study, trial, self.plan)

    def _shared_folder(self, study: Any) -> Optional[str]:
        """The tune folder of a study that another worker created, when this machine sees it (its
        creator names it right after creating the study: wait a little for that)."""
        deadline = time.monotonic() + SHARED_FOLDER_WAIT_S
        while True:
            tune_id = study.user_attrs.get("tune_id")
            if tune_id or time.monotonic() > deadline:
                return tune_id if tune_id and self.store.exists(tune_id, TUNE_SPEC) else None
            time.sleep(0.2)

    def _budget_spent(self, trials: Sequence[Any]) -> bool:
        waiting = ts.optuna_module().trial.TrialState.WAITING
        return len(ts.effective(trials)) >= self.spec.n_trials and not any(t.state == waiting for t in trials)

    def _skip_reason(self, trials: Sequence[Any], trial: Any, params: Dict[str, Scalar]) -> Optional[str]:
        """Why this trial must not run: nothing of the plan is left, the budget is spent, or another
        trial holds its values (two workers queued the same retry; TPE proposed a repeat)."""
        if self.plan is not None and "planned" not in trial.user_attrs:
            return "surplus: every planned trial is taken"
        before = [t for t in ts.effective(trials) if t.number < trial.number]
        if len(before) >= self.spec.n_trials:
            return "surplus: the trial budget is spent"
        same = next((t for t in before if t.params == params), None)
        return f"duplicate of trial {same.number}" if same is not None else None

    def _enqueue_unvisited(self, study: Any, trials: Sequence[Any], number: int) -> None:
        """After TPE proposes a repeat, queue a combination not tried yet (seeded pick)."""
        live = ts.effective(trials)
        left = [c for c in self.space.combinations() if c not in [t.params for t in live]]
        if left and len(live) < self.spec.n_trials:
            study.enqueue_trial(random.Random(f"{self.spec.seed}:{number}").choice(left))

    def _objective(self, trial: Any) -> float:
        trial.set_user_attr("worker", ts.worker_id())
        trial.set_user_attr("started_at", iso(utc_now()))
        params = {p.key: trial.suggest_categorical(p.key, list(p.values)) for p in self.space.params}
        trials = trial.study.get_trials(deepcopy=False)
        skip = self._skip_reason(trials, trial, params)
        if skip is not None:
            trial.set_user_attr("skipped", skip)
            if skip.startswith("surplus"):
                trial.study.stop()
            elif self.plan is None:
                self._enqueue_unvisited(trial.study, trials, trial.number)
            raise ts.optuna_module().TrialPruned(skip)
        if self.callbacks.on_trial_start:
            self.callbacks.on_trial_start(trial.number, params)
        return self._train(trial, params)

    def _train(self, trial: Any, params: Dict[str, Scalar]) -> float:
        config = trial_config(self.base, params, trial.number)
        deps = self.deps_factory(config)
        before = {loc.run_id for loc in deps.store.list_runs()}
        started = time.monotonic()
        run = None
        try:
            run = train(config, deps, callbacks=self.callbacks.train)
            return metric_value(run.metrics, self.spec.metric)
        except KeyboardInterrupt:
            trial.set_user_attr("interrupted", True)
            trial.set_user_attr("error", "interrupted by the user (Ctrl-C)")
            raise
        except Exception as exc:
            error = str(exc) if isinstance(exc, VerifilyError) else f"{type(exc).__name__}: {exc}"
            trial.set_user_attr("error", error)
            raise _TrialFailed(error) from exc
        finally:
            trial.set_user_attr("duration_seconds", round(time.monotonic() - started, 3))
            new = sorted({loc.run_id for loc in deps.store.list_runs()} - before)
            run_id = run.run_id if run is not None else (new[-1] if new else None)
            if run_id is not None:
                trial.set_user_attr("run_id", run_id)
                path = run.artifact_path if run is not None else str(deps.store.local_dir(run_id))
                trial.set_user_attr("run_path", path)
            if run is not None:
                trial.set_user_attr("metrics", _numeric(run.metrics))

    def _after_trial(self, study: Any, frozen: Any) -> None:
        trials = study.get_trials(deepcopy=False)
        self._write(trials)
        if frozen.state != ts.optuna_module().trial.TrialState.PRUNED and self.callbacks.on_trial_end:
            self.callbacks.on_trial_end(self._record(frozen))
        if self._budget_spent(trials):
            study.stop()

    # ------------------------------------------------------------------ records

    def _record(self, t: Any) -> TrialRecord:
        state = ts.optuna_module().trial.TrialState
        names = {state.COMPLETE: "completed", state.RUNNING: "running", state.WAITING: "queued"}
        status = "interrupted" if ts.is_interrupted(t) else names.get(t.state, "failed")
        attrs = t.user_attrs
        # a trial whose worker died before it asked for its values still has its planned ones
        planned = attrs.get("planned")
        values = t.params or (self.plan[planned] if self.plan is not None and planned is not None else {})
        error = attrs.get("error") or (
            "interrupted: its worker stopped sending heartbeats" if status == "interrupted" else None
        )
        return TrialRecord(
            number=t.number,
            params={k: values[k] for k in self.space.keys if k in values},
            status=status,
            score=t.value if t.state == state.COMPLETE else None,
            run_id=attrs.get("run_id"),
            run_path=attrs.get("run_path"),
            error=error,
            metrics=attrs.get("metrics", {}),
            worker=attrs.get("worker"),
            started_at=attrs.get("started_at"),
            duration_seconds=attrs.get("duration_seconds"),
            retry_of=attrs.get("retry_of"),
        )

    def _report(self, trials: Sequence[Any]) -> TuneReport:
        pruned = ts.optuna_module().trial.TrialState.PRUNED
        ordered = sorted(trials, key=lambda t: t.number)
        records = [self._record(t) for t in ordered if t.state != pruned]
        return TuneReport(self.tune_id, str(self.store.local_dir(self.tune_id)), self.spec, records)

    def _write(self, trials: Sequence[Any]) -> None:
        self.store.write_json(self.tune_id, TUNE_RESULTS, self._report(trials).results_doc())

    def _final(self, trials: Sequence[Any]) -> TuneReport:
        report = self._report(trials)
        if report.best is None and not any(t.status in ("running", "queued") for t in report.trials):
            failed = [t for t in report.trials if t.error]
            first = f" Trial {failed[0].number}: {failed[0].error}" if failed else ""
            raise TuneError(
                f"No trial completed ({len(report.trials)} tried).{first}",
                hint=f"Each trial's error is in {report.tune_dir}/{TUNE_RESULTS}.",
            )
        return report


def _numeric(metrics: Mapping[str, Any]) -> Dict[str, float]:
    """A run's numeric metrics, evaluation ones included (``eval.f1``), for the trials table."""
    out = {k: float(v) for k, v in metrics.items() if isinstance(v, (int, float)) and not isinstance(v, bool)}
    for k, v in (metrics.get("eval") or {}).items():
        if isinstance(v, (int, float)) and not isinstance(v, bool):
            out[f"eval.{k}"] = float(v)
    return out


__all__ = ["DepsFactory", "TuneCallbacks", "TuneSettings", "resume", "tune"]
