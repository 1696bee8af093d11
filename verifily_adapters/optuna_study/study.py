"""The Optuna study engine: a study is an Optuna study in an RDB storage (SQLAlchemy URL).

How the port maps onto Optuna: queued trials are Optuna's WAITING trials (``enqueue_trial``), which
``Study.ask`` pops atomically (a state change checked in the database; on SQLite made atomic by
``BEGIN IMMEDIATE``, see ``storage.py``); proposed values come from the sampler (``TPESampler`` for
``tpe``, ``RandomSampler`` otherwise, both seeded); a trial's ``attrs`` are its user attrs, the
study's its study user attrs; ``skipped`` is PRUNED. A study made by an earlier release of
Verifily Train (same attrs, same states) opens unchanged.

Optuna's own log (study created, trial told) shows only with ``--verbose``: the ``verifily`` logger
at DEBUG turns it to INFO while a study is open, otherwise it is kept to errors.
"""

from __future__ import annotations

import contextlib
import logging
import warnings
from pathlib import Path
from typing import Any, Dict, List, Mapping, Optional, Union

from verifily_adapters.optuna_study.storage import HEARTBEAT_S, open_storage, redact, storage_url
from verifily_adapters.optuna_study.workers import Heartbeat, dead_here, worker_id
from verifily_core.domain.search import Scalar, SearchSpace
from verifily_core.errors import TuneError
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


class OptunaStudy(Study):
    """One worker's handle on an Optuna study; see ``verifily_core.ports.study`` for the contract."""

    def __init__(self, location: Union[str, Path], settings: StudySettings, *, create: bool) -> None:
        import optuna

        self._optuna = optuna
        self._states = {
            optuna.trial.TrialState.WAITING: QUEUED,
            optuna.trial.TrialState.RUNNING: RUNNING,
            optuna.trial.TrialState.COMPLETE: COMPLETED,
            optuna.trial.TrialState.FAIL: FAILED,
            optuna.trial.TrialState.PRUNED: SKIPPED,
        }
        self._worker = worker_id()
        self._held: Dict[int, Heartbeat] = {}
        self._stale: List[int] = []
        self._verbosity = optuna.logging.get_verbosity()
        verbose = logging.getLogger("verifily").isEnabledFor(logging.DEBUG)
        optuna.logging.set_verbosity(optuna.logging.INFO if verbose else optuna.logging.ERROR)
        self._closed = False
        url = storage_url(location)
        try:
            self._storage = open_storage(url, self._on_stale)
            created = self._open(url, settings, create)
        except BaseException:
            optuna.logging.set_verbosity(self._verbosity)
            raise
        self._study_id = self._storage.get_study_id_from_name(settings.name)
        super().__init__(created=created)

    def _open(self, url: str, settings: StudySettings, create: bool) -> bool:
        optuna = self._optuna
        # planned trials (grid, random) carry fixed values: the sampler only matters for TPE
        sampler = (
            optuna.samplers.TPESampler(seed=settings.seed)
            if settings.strategy == "tpe"
            else optuna.samplers.RandomSampler(seed=settings.seed)
        )
        if create:
            try:
                self._study = optuna.create_study(
                    study_name=settings.name,
                    storage=self._storage,
                    sampler=sampler,
                    direction=settings.direction,
                )
                return True
            except optuna.exceptions.DuplicatedStudyError:
                pass  # another worker started this search: join it
        try:
            self._study = optuna.load_study(study_name=settings.name, storage=self._storage, sampler=sampler)
        except KeyError:
            self._storage.engine.dispose()
            raise TuneError(
                f"The storage {redact(url)} holds no study {settings.name}.",
                hint="Resume with the tune folder and storage the search started with.",
            ) from None
        return False

    # ------------------------------------------------------------------ workers

    @property
    def worker(self) -> str:
        return self._worker

    def worker_stopped(self, worker: str) -> bool:
        return dead_here(worker)

    # ------------------------------------------------------------------ study attrs and trials

    def attrs(self) -> Dict[str, Any]:
        return dict(self._study.user_attrs)

    def set_attr(self, key: str, value: Any) -> None:
        self._study.set_user_attr(key, value)

    def trials(self) -> List[Trial]:
        return [self._trial(t) for t in self._study.get_trials(deepcopy=False)]

    def _trial(self, frozen: Any) -> Trial:
        state = self._states[frozen.state]
        value = frozen.value if state == COMPLETED else None
        return Trial(frozen.number, state, dict(frozen.params), value, dict(frozen.user_attrs))

    def _trial_id(self, number: int) -> int:
        return int(self._storage.get_trial_id_from_study_id_trial_number(self._study_id, number))

    def enqueue(self, params: Mapping[str, Scalar], attrs: Optional[Mapping[str, Any]] = None) -> None:
        self._study.enqueue_trial(dict(params), user_attrs=dict(attrs) if attrs else None)

    # ------------------------------------------------------------------ claiming and finishing

    def ask(self, space: SearchSpace) -> Trial:
        with warnings.catch_warnings():  # "Heartbeat of storage is supposed to be used with optimize":
            warnings.simplefilter("ignore")  # this engine beats itself (``Heartbeat``)
            trial = self._study.ask()
        trial.set_user_attr("worker", self._worker)
        trial_id = self._trial_id(trial.number)
        self._held[trial.number] = Heartbeat(self._storage, trial_id, HEARTBEAT_S)
        for p in space.params:
            trial.suggest_categorical(p.key, list(p.values))
        return self._trial(self._storage.get_trial(trial_id))

    def set_trial_attrs(self, number: int, attrs: Mapping[str, Any]) -> None:
        trial_id = self._trial_id(number)
        for key, value in attrs.items():
            self._storage.set_trial_user_attr(trial_id, key, value)

    def tell(self, number: int, state: str, value: Optional[float] = None) -> None:
        self._let_go(number)
        states = {v: k for k, v in self._states.items()}
        # another worker may finish it between Optuna's check and its update
        with contextlib.suppress(self._optuna.exceptions.UpdateFinishedTrialError):
            self._study.tell(
                number, value if state == COMPLETED else None, states[state], skip_if_finished=True
            )

    def release(self, number: int, reason: str) -> bool:
        self._let_go(number)
        trial_id = self._trial_id(number)
        try:
            if self._storage.get_trial(trial_id).state != self._optuna.trial.TrialState.RUNNING:
                return False
            self._storage.set_trial_user_attr(trial_id, "interrupted", True)
            self._storage.set_trial_user_attr(trial_id, "error", reason)
            self._storage.set_trial_state_values(trial_id, state=self._optuna.trial.TrialState.FAIL)
        except self._optuna.exceptions.UpdateFinishedTrialError:
            return False  # another worker got there first
        return True

    def release_silent(self) -> List[int]:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            self._optuna.storages.fail_stale_trials(self._study)  # calls _on_stale per trial it failed
        released, self._stale = self._stale, []
        return released

    def _on_stale(self, _study: Any, frozen: Any) -> None:
        self._stale.append(frozen.number)

    def _let_go(self, number: int) -> None:
        heartbeat = self._held.pop(number, None)
        if heartbeat is not None:
            heartbeat.stop()

    def close(self) -> None:
        if self._closed:
            return
        self._closed = True
        for number in list(self._held):
            self._let_go(number)
        self._storage.engine.dispose()
        self._optuna.logging.set_verbosity(self._verbosity)


class OptunaStudyEngine(StudyEngine):
    """Studies in an Optuna RDB storage: ``--storage`` URLs as given, a tune folder's path as SQLite."""

    PLUGIN_NAME = "optuna"

    def open_study(self, location: Union[str, Path], settings: StudySettings, *, create: bool) -> Study:
        return OptunaStudy(location, settings, create=create)


__all__ = ["OptunaStudy", "OptunaStudyEngine"]
