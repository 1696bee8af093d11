"""The tune use case: a hyperparameter search where every trial is a full training run.

Why a study rather than a loop of ``train()`` calls: a study engine (the study port,
``verifily_core.ports.study``; Optuna on an SQLAlchemy database by default) keeps the search outside
the process, so a search survives a crash (``resume``), several workers share one study through a
storage URL, and queued trials are handed out atomically, which is what lets workers split a grid
without running a combination twice (the rules are in ``services/tuning/study.py``).

A search, as data flows: everything is checked first (space, strategy, metric, every combination's
config, the data), then a tune folder ``<output.dir>/tune_<YYYYMMDD_HHMMSS>_<hex>/`` receives
``tune_spec.json`` (the frozen search) and the study (``study.db`` with the Optuna engine, unless a
storage URL is given); each trial trains a run named ``tune_trial_<k>`` in ``output.dir``;
``tune_results.json`` is rewritten atomically after each trial. A trial that fails is recorded with
its error and the search goes on; a trial whose worker died (Ctrl-C, kill, lost machine) is marked
``interrupted`` and queued again.
"""

from __future__ import annotations

import gc
import json
import random
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Dict, Mapping, Optional, Sequence, Tuple, Union

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
from verifily_core.ports.study import (
    COMPLETED,
    FAILED,
    QUEUED,
    RUNNING,
    SKIPPED,
    Study,
    StudyEngine,
    StudySettings,
    Trial,
)
from verifily_core.services.training.dependencies import DepsFactory
from verifily_core.services.training.prepare import prepare
from verifily_core.services.training.train import train
from verifily_core.services.tuning import study as rules

SHARED_FOLDER_WAIT_S = 30.0


@dataclass
class TuneCallbacks:
    """Progress without printing: the CLI draws bars, tests record. Every callback is optional."""

    on_begin: Optional[Callable[[TuneReport], None]] = None
    on_trial_start: Optional[Callable[[int, Dict[str, Scalar]], None]] = None
    on_trial_end: Optional[Callable[[TrialRecord], None]] = None
    train: Optional[TrainCallbacks] = None


class _TrialFailed(Exception):
    """A trial's training or scoring failed: the study records it as failed and the search goes on."""


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
    engine: StudyEngine,
    callbacks: Optional[TuneCallbacks] = None,
    config_path: Optional[Path] = None,
) -> TuneReport:
    """Start a search (or join one in a shared ``settings.storage``); ``store`` holds the tune folder,
    ``engine`` the study."""
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
    return _Search(spec, store, deps_factory, engine, callbacks or TuneCallbacks()).run(tune_id=None)


def resume(
    tune_id: str,
    *,
    store: ArtifactStore,
    deps_factory: DepsFactory,
    engine: StudyEngine,
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
    return _Search(spec, store, deps_factory, engine, callbacks or TuneCallbacks()).run(tune_id=tune_id)


# ---------------------------------------------------------------------- one worker


class _Search:
    """One worker's part of a search: opens the study, recovers dead trials, runs trials."""

    def __init__(
        self,
        spec: TuneSpec,
        store: ArtifactStore,
        deps_factory: DepsFactory,
        engine: StudyEngine,
        callbacks: TuneCallbacks,
    ) -> None:
        self.spec = spec
        self.space = spec.space
        self.plan = spec.plan
        self.base = TrainConfig.from_dict(spec.base_config, source=Path(spec.source_dir) / TUNE_SPEC)
        self.store = store
        self.deps_factory = deps_factory
        self.engine = engine
        self.callbacks = callbacks
        self.tune_id = ""

    def run(self, *, tune_id: Optional[str]) -> TuneReport:
        study: Optional[Study] = None
        try:
            if tune_id is None and self.spec.storage:
                study = self._open(self.spec.storage, create=True)
                tune_id = None if study.created else self._shared_folder(study)
            new_folder = tune_id is None
            if tune_id is None:
                tune_id = self.store.create_run(prefix=TUNE_PREFIX).run_id
                self.store.write_json(tune_id, TUNE_SPEC, self.spec.to_dict())
            self.tune_id = tune_id
            if study is None:
                location = self.spec.storage or self.store.local_dir(tune_id) / STUDY_DB
                study = self._open(location, create=new_folder)
            return self._work(study)
        finally:
            if study is not None:
                study.close()

    def _open(self, location: Union[str, Path], *, create: bool) -> Study:
        """The study; ``created`` says whether this worker created it (and so names the tune folder)."""
        settings = StudySettings(
            self.spec.study_name, self.spec.direction, self.spec.strategy, self.spec.seed
        )
        return self.engine.open_study(location, settings, create=create)

    def _work(self, study: Study) -> TuneReport:
        rules.register(study)
        rules.recover(study, self.plan)
        if self.plan is not None:
            rules.ensure_plan(study, self.plan)
        if "tune_id" not in study.attrs():  # last: joining workers wait for it, so the plan is queued
            study.set_attr("tune_id", self.tune_id)
        trials = study.trials()
        self._write(trials)
        if self.callbacks.on_begin:
            self.callbacks.on_begin(self._report(trials))
        try:
            while not self._budget_spent(trials):
                rules.requeue_silent(study, self.plan)
                number, stop = self._run_trial(study, study.ask(self.space))
                gc.collect()  # a trial's model must not stay in memory while the next one loads
                trials = study.trials()
                self._write(trials)
                done = next(t for t in trials if t.number == number)
                if done.state != SKIPPED and self.callbacks.on_trial_end:
                    self.callbacks.on_trial_end(self._record(done))
                if stop:
                    break
        finally:
            trials = study.trials()
            self._write(trials)
        return self._final(trials)

    def _shared_folder(self, study: Study) -> Optional[str]:
        """The tune folder of a study that another worker created, when this machine sees it (its
        creator names it right after creating the study: wait a little for that)."""
        deadline = time.monotonic() + SHARED_FOLDER_WAIT_S
        while True:
            tune_id = study.attrs().get("tune_id")
            if tune_id or time.monotonic() > deadline:
                return tune_id if tune_id and self.store.exists(tune_id, TUNE_SPEC) else None
            time.sleep(0.2)

    def _budget_spent(self, trials: Sequence[Trial]) -> bool:
        queued = any(t.state == QUEUED for t in trials)
        return len(rules.effective(trials)) >= self.spec.n_trials and not queued

    def _skip_reason(self, trials: Sequence[Trial], trial: Trial) -> Optional[str]:
        """Why this trial must not run: nothing of the plan is left, the budget is spent, or another
        trial holds its values (two workers queued the same retry; TPE proposed a repeat)."""
        if self.plan is not None and "planned" not in trial.attrs:
            return "surplus: every planned trial is taken"
        before = [t for t in rules.effective(trials) if t.number < trial.number]
        if len(before) >= self.spec.n_trials:
            return "surplus: the trial budget is spent"
        same = next((t for t in before if t.params == trial.params), None)
        return f"duplicate of trial {same.number}" if same is not None else None

    def _enqueue_unvisited(self, study: Study, trials: Sequence[Trial], number: int) -> None:
        """After TPE proposes a repeat, queue a combination not tried yet (seeded pick)."""
        live = rules.effective(trials)
        left = [c for c in self.space.combinations() if c not in [t.params for t in live]]
        if left and len(live) < self.spec.n_trials:
            study.enqueue(random.Random(f"{self.spec.seed}:{number}").choice(left))

    def _run_trial(self, study: Study, trial: Trial) -> Tuple[int, bool]:
        """Run the trial this worker was handed and tell the study how it ended; its number, and
        whether the search has nothing left for this worker. A failed training is recorded and
        the search goes on; Ctrl-C interrupts the trial (queued again on resume) and the search."""
        number = trial.number
        try:
            study.set_trial_attrs(number, {"started_at": iso(utc_now())})
            trials = study.trials()
            skip = self._skip_reason(trials, trial)
            if skip is not None:
                study.set_trial_attrs(number, {"skipped": skip})
                if not skip.startswith("surplus") and self.plan is None:
                    self._enqueue_unvisited(study, trials, number)
                study.tell(number, SKIPPED)
                return number, skip.startswith("surplus")
            if self.callbacks.on_trial_start:
                self.callbacks.on_trial_start(number, trial.params)
            study.tell(number, COMPLETED, self._train(study, number, trial.params))
        except _TrialFailed:
            study.tell(number, FAILED)
        except KeyboardInterrupt:
            study.release(number, "interrupted by the user (Ctrl-C)")
            raise
        except Exception:
            study.tell(number, FAILED)
            raise
        return number, False

    def _train(self, study: Study, number: int, params: Dict[str, Scalar]) -> float:
        config = trial_config(self.base, params, number)
        deps = self.deps_factory(config)
        before = {loc.run_id for loc in deps.store.list_runs()}
        started = time.monotonic()
        run = None
        attrs: Dict[str, Any] = {}
        try:
            run = train(config, deps, callbacks=self.callbacks.train)
            return metric_value(run.metrics, self.spec.metric)
        except KeyboardInterrupt:
            raise
        except Exception as exc:
            error = str(exc) if isinstance(exc, VerifilyError) else f"{type(exc).__name__}: {exc}"
            attrs["error"] = error
            raise _TrialFailed(error) from exc
        finally:
            attrs["duration_seconds"] = round(time.monotonic() - started, 3)
            new = sorted({loc.run_id for loc in deps.store.list_runs()} - before)
            run_id = run.run_id if run is not None else (new[-1] if new else None)
            if run_id is not None:
                attrs["run_id"] = run_id
                attrs["run_path"] = (
                    run.artifact_path if run is not None else str(deps.store.local_dir(run_id))
                )
            if run is not None:
                attrs["metrics"] = _numeric(run.metrics)
            study.set_trial_attrs(number, attrs)

    # ------------------------------------------------------------------ records

    def _record(self, t: Trial) -> TrialRecord:
        names = {COMPLETED: "completed", RUNNING: "running", QUEUED: "queued"}
        status = "interrupted" if rules.is_interrupted(t) else names.get(t.state, "failed")
        attrs = t.attrs
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
            score=t.value if t.state == COMPLETED else None,
            run_id=attrs.get("run_id"),
            run_path=attrs.get("run_path"),
            error=error,
            metrics=attrs.get("metrics", {}),
            worker=attrs.get("worker"),
            started_at=attrs.get("started_at"),
            duration_seconds=attrs.get("duration_seconds"),
            retry_of=attrs.get("retry_of"),
        )

    def _report(self, trials: Sequence[Trial]) -> TuneReport:
        ordered = sorted(trials, key=lambda t: t.number)
        records = [self._record(t) for t in ordered if t.state != SKIPPED]
        return TuneReport(self.tune_id, str(self.store.local_dir(self.tune_id)), self.spec, records)

    def _write(self, trials: Sequence[Trial]) -> None:
        self.store.write_json(self.tune_id, TUNE_RESULTS, self._report(trials).results_doc())

    def _final(self, trials: Sequence[Trial]) -> TuneReport:
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
