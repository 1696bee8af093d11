"""The tune use case: a hyperparameter search on Optuna where every trial is a full training run.

Why Optuna rather than a loop of ``train()`` calls: its RDB storage keeps the study outside the
process, so a search survives a crash (``resume``), several workers share one study through any
SQLAlchemy URL, and trial numbers are handed out atomically, which is what lets workers split a grid
without running a combination twice. Optuna is pure Python and is imported lazily.

A search, as data flows: everything is checked first (space, strategy, metric, every combination's
config, the data), then a tune folder ``<output.dir>/tune_<YYYYMMDD_HHMMSS>_<hex>/`` receives
``tune_spec.json`` (the frozen search) and ``study.db``; each trial trains a run named
``tune_trial_<k>`` in ``output.dir``; ``tune_results.json`` is rewritten atomically after each trial.
A trial that fails is recorded with its error and the search goes on; a trial whose worker died
(Ctrl-C, kill, lost machine) is marked ``interrupted`` and queued again.
"""

from __future__ import annotations

import os
import random
import socket
import time
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Dict, List, Mapping, Optional, Sequence, Set

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
from verifily_core.services.prepare import prepare
from verifily_core.services.train import TrainDependencies, train

DepsFactory = Callable[[TrainConfig], TrainDependencies]
HEARTBEAT_S = 30  # a worker's running trial is declared dead after GRACE_S without a heartbeat
GRACE_S = 120
_RACE_ERRORS = ("OperationalError", "IntegrityError")  # SQLAlchemy's, seen when workers race


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
    config: TrainConfig, space: SearchSpace, metric: str, deps_factory: DepsFactory, where: str,
) -> None:
    """Every combination's config and metric, then the data and model once: before any trial runs."""
    configs = []
    for combo in space.combinations():
        try:
            configs.append(trial_config(config, combo, 0))
        except ConfigError as exc:
            raise TuneError(f"The combination {combo} is not a valid config: {exc.message}",
                            hint=exc.hint) from None
    for cfg in configs:
        check_metric(cfg, metric, where)
    prepare(configs[0], deps_factory(configs[0]).backend)


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
        base_config=config.to_dict(), source_dir=str(config.source_dir or Path.cwd()),
        config_path=str(Path(config_path).resolve()) if config_path else None, params=space.to_dict(),
        strategy=settings.strategy, metric=settings.metric, direction=settings.direction,
        max_trials=settings.max_trials, n_trials=n_trials, seed=config.seed, storage=settings.storage,
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
        raise TuneError(f"{store.root}/{tune_id} is not a tune folder (no {TUNE_SPEC}).",
                        hint="Pass a folder created by `verifily tune`, "
                             "e.g. --resume runs/tune_20260208_143022_a1b2c3.")
    spec = TuneSpec.from_dict(store.read_json(tune_id, TUNE_SPEC), where=where)
    return _Search(spec, store, deps_factory, callbacks or TuneCallbacks()).run(tune_id=tune_id)


# ---------------------------------------------------------------------- the study


def _optuna() -> Any:
    import optuna

    return optuna


def _worker() -> str:
    return f"{socket.gethostname()}:{os.getpid()}"


def _requeue_stale(study: Any, trial: Any) -> None:
    """Optuna's callback for a trial whose worker stopped sending heartbeats: run it again."""
    if trial.params:
        study.enqueue_trial(dict(trial.params), user_attrs={"retry_of": trial.number})


def _storage(url: str, attempts: int = 3) -> Any:
    """Optuna's RDB storage with heartbeats; retried because workers starting together on a fresh
    database race to create its tables, and the loser's first attempt fails."""
    optuna = _optuna()
    engine = {"connect_args": {"timeout": 60}} if url.startswith("sqlite") else {}
    for attempt in range(1, attempts + 1):
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                return optuna.storages.RDBStorage(
                    url, engine_kwargs=engine, heartbeat_interval=HEARTBEAT_S, grace_period=GRACE_S,
                    heartbeat_stale_trial_callback=_requeue_stale,
                )
        except Exception as exc:  # noqa: BLE001 - SQLAlchemy and drivers raise many kinds
            if attempt < attempts and type(exc).__name__ in _RACE_ERRORS:
                time.sleep(0.2 * attempt + random.random() * 0.3)
                continue
            reason = (str(exc).strip().splitlines() or [""])[0][:300]
            raise TuneError(f"Cannot open the study storage {_redact(url)}: {type(exc).__name__}: {reason}",
                            hint="Give an Optuna RDB URL such as sqlite:///runs/study.db or "
                                 "postgresql://user@host/db (with its driver, e.g. psycopg2-binary).") from None
    raise AssertionError("unreachable")


def _redact(url: str) -> str:
    head, sep, tail = url.partition("://")
    if "@" not in tail or ":" not in tail.split("@", 1)[0]:
        return url
    user = tail.split("@", 1)[0].split(":", 1)[0]
    return f"{head}{sep}{user}:***@{tail.split('@', 1)[1]}"


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _superseded(trials: Sequence[Any]) -> Set[int]:
    """Numbers of interrupted trials that a later trial runs again."""
    pruned = _optuna().trial.TrialState.PRUNED
    return {t.user_attrs["retry_of"] for t in trials if "retry_of" in t.user_attrs and t.state != pruned}


def _effective(trials: Sequence[Any]) -> List[Any]:
    """Trials that spend the budget: not skipped (PRUNED) and not superseded by a retry."""
    pruned = _optuna().trial.TrialState.PRUNED
    gone = _superseded(trials)
    return [t for t in trials if t.state != pruned and t.number not in gone]


class _Search:
    """One worker's part of a search: opens the study, recovers dead trials, runs trials."""

    def __init__(self, spec: TuneSpec, store: ArtifactStore, deps_factory: DepsFactory,
                 callbacks: TuneCallbacks) -> None:
        self.spec = spec
        self.space = spec.space
        self.base = TrainConfig.from_dict(spec.base_config, source=Path(spec.source_dir) / TUNE_SPEC)
        self.store = store
        self.deps_factory = deps_factory
        self.callbacks = callbacks
        self.tune_id = ""
        self._storage: Any = None

    def run(self, *, tune_id: Optional[str]) -> TuneReport:
        optuna = _optuna()
        study = None
        if tune_id is None and self.spec.storage:
            study = self._study(self.spec.storage, create=True)
            tune_id = self._shared_folder(study)
        new_folder = tune_id is None
        if tune_id is None:
            tune_id = self.store.create_run(prefix=TUNE_PREFIX).run_id
            self.store.write_json(tune_id, TUNE_SPEC, self.spec.to_dict())
        self.tune_id = tune_id
        if study is None:
            url = self.spec.storage or f"sqlite:///{self.store.local_dir(tune_id) / STUDY_DB}"
            study = self._study(url, create=new_folder)
        if "tune_id" not in study.user_attrs:
            study.set_user_attr("tune_id", tune_id)
        self._recover(study)
        trials = study.get_trials(deepcopy=False)
        self._write(trials)
        if self.callbacks.on_begin:
            self.callbacks.on_begin(self._report(trials))
        try:
            if not self._budget_spent(trials):
                study.optimize(self._objective, catch=(_TrialFailed,), callbacks=[self._after_trial],
                               gc_after_trial=True)
        finally:
            trials = study.get_trials(deepcopy=False)
            self._write(trials)
        report = self._report(trials)
        if report.best is None and not any(t.state == optuna.trial.TrialState.RUNNING for t in trials):
            failed = [t for t in report.trials if t.error]
            first = f" Trial {failed[0].number}: {failed[0].error}" if failed else ""
            raise TuneError(f"No trial completed ({len(report.trials)} tried).{first}",
                            hint=f"Each trial's error is in {report.tune_dir}/{TUNE_RESULTS}.")
        return report

    def _study(self, url: str, *, create: bool) -> Any:
        optuna = _optuna()
        sampler = (optuna.samplers.TPESampler(seed=self.spec.seed) if self.spec.strategy == "tpe"
                   else optuna.samplers.GridSampler(self.space.to_dict(), seed=self.spec.seed))
        storage = self._storage = _storage(url)
        if create:
            return optuna.create_study(study_name=self.spec.study_name, storage=storage, sampler=sampler,
                                       direction=self.spec.direction, load_if_exists=True)
        try:
            return optuna.load_study(study_name=self.spec.study_name, storage=storage, sampler=sampler)
        except KeyError:
            raise TuneError(f"The storage {_redact(url)} holds no study {self.spec.study_name}.",
                            hint="Resume with the tune folder and storage the search started with.") from None

    def _shared_folder(self, study: Any) -> Optional[str]:
        """The tune folder of a study that another worker started, when this machine sees it."""
        tune_id = study.user_attrs.get("tune_id")
        return tune_id if tune_id and self.store.exists(tune_id, TUNE_SPEC) else None

    def _recover(self, study: Any) -> None:
        """Trials left running by a dead worker on this machine (or silent elsewhere) run again."""
        optuna = _optuna()
        state = optuna.trial.TrialState
        storage = self._storage
        study_id = storage.get_study_id_from_name(self.spec.study_name)
        host = socket.gethostname()
        for t in study.get_trials(deepcopy=False, states=(state.RUNNING,)):
            worker_host, _, pid = str(t.user_attrs.get("worker", "")).rpartition(":")
            if worker_host == host and pid.isdigit() and not _alive(int(pid)):
                trial_id = storage.get_trial_id_from_study_id_trial_number(study_id, t.number)
                storage.set_trial_user_attr(trial_id, "interrupted", True)
                storage.set_trial_user_attr(trial_id, "error", f"interrupted: worker process {pid} stopped")
                try:
                    storage.set_trial_state_values(trial_id, state=state.FAIL)
                except optuna.exceptions.UpdateFinishedTrialError:
                    continue
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            optuna.storages.fail_stale_trials(study)
        trials = study.get_trials(deepcopy=False)
        retried = _superseded(trials)
        for t in trials:
            lost = t.state == state.FAIL and t.user_attrs.get("interrupted")
            if lost and t.number not in retried and t.params:
                study.enqueue_trial(dict(t.params), user_attrs={"retry_of": t.number})

    def _budget_spent(self, trials: Sequence[Any]) -> bool:
        waiting = _optuna().trial.TrialState.WAITING
        return len(_effective(trials)) >= self.spec.n_trials and not any(t.state == waiting for t in trials)

    def _skip_reason(self, trials: Sequence[Any], number: int, params: Dict[str, Scalar]) -> Optional[str]:
        """Whether this trial must not run: the budget is spent, or another worker runs its values."""
        before = [t for t in _effective(trials) if t.number < number]
        if len(before) >= self.spec.n_trials:
            return "surplus: the trial budget is already spent"
        same = next((t for t in before if t.params == params), None)
        return f"duplicate of trial {same.number}" if same is not None else None

    def _enqueue_unvisited(self, study: Any, trials: Sequence[Any], number: int) -> None:
        """After a duplicate proposal (TPE repeats itself), queue a combination not tried yet."""
        effective = _effective(trials)
        tried = [t.params for t in effective]
        left = [c for c in self.space.combinations() if c not in tried]
        if left and len(effective) < self.spec.n_trials:
            study.enqueue_trial(random.Random(f"{self.spec.seed}:{number}").choice(left))

    def _objective(self, trial: Any) -> float:
        params = {p.key: trial.suggest_categorical(p.key, list(p.values)) for p in self.space.params}
        trial.set_user_attr("worker", _worker())
        trial.set_user_attr("started_at", iso(utc_now()))
        trials = trial.study.get_trials(deepcopy=False)
        skip = self._skip_reason(trials, trial.number, params)
        if skip is not None:
            trial.set_user_attr("skipped", skip)
            if skip.startswith("surplus"):
                trial.study.stop()
            else:
                self._enqueue_unvisited(trial.study, trials, trial.number)
            raise _optuna().TrialPruned(skip)
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
        if frozen.state != _optuna().trial.TrialState.PRUNED and self.callbacks.on_trial_end:
            self.callbacks.on_trial_end(self._record(frozen, _superseded(trials)))
        if self._budget_spent(trials):
            study.stop()

    # ------------------------------------------------------------------ records

    def _record(self, t: Any, superseded: Set[int]) -> TrialRecord:
        state = _optuna().trial.TrialState
        names = {state.COMPLETE: "completed", state.RUNNING: "running", state.WAITING: "queued"}
        status = names.get(t.state, "failed")
        attrs = t.user_attrs
        error = attrs.get("error")
        if t.state == state.FAIL and (attrs.get("interrupted") or t.number in superseded):
            status = "interrupted"
            error = error or "interrupted: its worker stopped sending heartbeats"
        return TrialRecord(
            number=t.number, params={k: t.params[k] for k in self.space.keys if k in t.params}, status=status,
            score=t.value if t.state == state.COMPLETE else None, run_id=attrs.get("run_id"),
            run_path=attrs.get("run_path"), error=error, metrics=attrs.get("metrics", {}),
            worker=attrs.get("worker"), started_at=attrs.get("started_at"),
            duration_seconds=attrs.get("duration_seconds"), retry_of=attrs.get("retry_of"),
        )

    def _report(self, trials: Sequence[Any]) -> TuneReport:
        pruned = _optuna().trial.TrialState.PRUNED
        superseded = _superseded(trials)
        ordered = sorted(trials, key=lambda t: t.number)
        records = [self._record(t, superseded) for t in ordered if t.state != pruned]
        return TuneReport(self.tune_id, str(self.store.local_dir(self.tune_id)), self.spec, records)

    def _write(self, trials: Sequence[Any]) -> None:
        self.store.write_json(self.tune_id, TUNE_RESULTS, self._report(trials).results_doc())


def _numeric(metrics: Mapping[str, Any]) -> Dict[str, float]:
    """A run's numeric metrics, evaluation ones included (``eval.f1``), for the trials table."""
    out = {k: float(v) for k, v in metrics.items() if isinstance(v, (int, float)) and not isinstance(v, bool)}
    for k, v in (metrics.get("eval") or {}).items():
        if isinstance(v, (int, float)) and not isinstance(v, bool):
            out[f"eval.{k}"] = float(v)
    return out


__all__ = ["DepsFactory", "TuneCallbacks", "TuneSettings", "resume", "tune"]
