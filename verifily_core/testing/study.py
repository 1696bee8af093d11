"""The in-memory study engine: studies in a dict, workers as threads, liveness told by the test.

Why a fake rather than Optuna on SQLite in the use case's tests: what those tests check is the tune
rules (the plan, the budget, retries, skips), not a database; the fake is instant, keeps no files,
and lets a test say which workers are gone (``stopped``) or silent (``silent``) instead of killing
processes. The Optuna engine passes the same conformance suite (``verifily_core.conformance.study``).
"""

from __future__ import annotations

import copy
import random
import threading
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Dict, List, Mapping, Optional, Set, Union

from verifily_core.domain.search import Scalar, SearchSpace
from verifily_core.errors import TuneError
from verifily_core.ports.study import (
    COMPLETED,
    FAILED,
    FINAL_STATES,
    QUEUED,
    RUNNING,
    Study,
    StudyEngine,
    StudySettings,
    Trial,
)

SCHEME = "memory://"


@dataclass
class StudyState:
    """One study as the engine holds it; tests may read it, and change it to stage odd cases (a
    trial taken by a worker that died before writing its name: ``take_queued``)."""

    settings: StudySettings
    attrs: Dict[str, Any] = field(default_factory=dict)
    trials: List[Trial] = field(default_factory=list)
    fixed: Dict[int, Dict[str, Scalar]] = field(default_factory=dict)  # a queued trial's values
    proposals: int = 0

    def take_queued(self) -> Trial:
        """Mark the oldest queued trial running, with no worker named (as a worker killed at once)."""
        index, trial = next((i, t) for i, t in enumerate(self.trials) if t.state == QUEUED)
        self.trials[index] = Trial(
            trial.number, RUNNING, dict(self.fixed.get(trial.number, {})), None, trial.attrs
        )
        return self.trials[index]


class InMemoryStudyEngine(StudyEngine):
    """Studies kept as long as the engine lives (``memory``); see the module docstring.

    Locations: a ``Path`` (a tune folder's study) or a ``memory://<name>`` URL (a shared study);
    anything else cannot be opened, like a URL of an unknown database. ``worker`` names the
    worker of every study opened (default: the name of the thread that uses the study).
    """

    PLUGIN_NAME = "memory"

    def __init__(self, worker: Optional[str] = None) -> None:
        self.worker = worker
        self.studies: Dict[str, StudyState] = {}
        self.stopped: Set[str] = set()
        self.silent: Set[str] = set()
        self.lock = threading.RLock()

    def open_study(self, location: Union[str, Path], settings: StudySettings, *, create: bool) -> Study:
        if isinstance(location, str) and not location.startswith(SCHEME):
            raise TuneError(
                f"Cannot open the study storage {location}: the in-memory engine keeps {SCHEME}<name> "
                "studies and tune folders only."
            )
        key = f"{location}#{settings.name}"
        with self.lock:
            created = key not in self.studies and create
            if created:
                self.studies[key] = StudyState(settings)
            if key not in self.studies:
                raise TuneError(f"The storage {location} holds no study {settings.name}.")
            return InMemoryStudy(self, self.studies[key], created=created)

    def state(self, location: Union[str, Path], name: str) -> StudyState:
        """The study ``name`` at ``location`` (for tests that look inside)."""
        return self.studies[f"{location}#{name}"]


class InMemoryStudy(Study):
    """One worker's handle on an in-memory study."""

    def __init__(self, engine: InMemoryStudyEngine, state: StudyState, *, created: bool) -> None:
        super().__init__(created=created)
        self._engine, self._state = engine, state
        self._worker = engine.worker or threading.current_thread().name

    @property
    def worker(self) -> str:
        return self._worker

    def worker_stopped(self, worker: str) -> bool:
        return worker in self._engine.stopped

    def attrs(self) -> Dict[str, Any]:
        with self._engine.lock:
            return copy.deepcopy(self._state.attrs)

    def set_attr(self, key: str, value: Any) -> None:
        with self._engine.lock:
            self._state.attrs[key] = copy.deepcopy(value)

    def trials(self) -> List[Trial]:
        with self._engine.lock:
            return copy.deepcopy(self._state.trials)

    def enqueue(self, params: Mapping[str, Scalar], attrs: Optional[Mapping[str, Any]] = None) -> None:
        with self._engine.lock:
            number = len(self._state.trials)
            self._state.trials.append(Trial(number, QUEUED, {}, None, copy.deepcopy(dict(attrs or {}))))
            self._state.fixed[number] = dict(params)

    def ask(self, space: SearchSpace) -> Trial:
        with self._engine.lock:
            state = self._state
            queued = next((t for t in state.trials if t.state == QUEUED), None)
            number = queued.number if queued is not None else len(state.trials)
            fixed = state.fixed.get(number, {})
            rng = random.Random(f"{state.settings.seed}:{state.proposals}")
            state.proposals += queued is None
            params = {p.key: fixed[p.key] if p.key in fixed else rng.choice(p.values) for p in space.params}
            attrs = {**(queued.attrs if queued is not None else {}), "worker": self._worker}
            trial = Trial(number, RUNNING, params, None, attrs)
            if queued is None:
                state.trials.append(trial)
            else:
                state.trials[number] = trial
            return copy.deepcopy(trial)

    def _replace(self, number: int, **changes: Any) -> bool:
        """Change a running trial; False when it is no longer running."""
        trial = self._state.trials[number]
        if trial.state in FINAL_STATES or trial.state == QUEUED:
            return False
        attrs = {**trial.attrs, **copy.deepcopy(changes.pop("attrs", {}))}
        self._state.trials[number] = Trial(
            number, changes.get("state", trial.state), trial.params, changes.get("value"), attrs
        )
        return True

    def set_trial_attrs(self, number: int, attrs: Mapping[str, Any]) -> None:
        with self._engine.lock:
            if not self._replace(number, attrs=dict(attrs)):
                raise ValueError(f"trial {number} is not running: its attrs are final")

    def tell(self, number: int, state: str, value: Optional[float] = None) -> None:
        with self._engine.lock:
            self._replace(number, state=state, value=value if state == COMPLETED else None)

    def release(self, number: int, reason: str) -> bool:
        with self._engine.lock:
            return self._replace(number, state=FAILED, attrs={"interrupted": True, "error": reason})

    def release_silent(self) -> List[int]:
        with self._engine.lock:
            silent = [
                t.number
                for t in self._state.trials
                if t.state == RUNNING and t.attrs.get("worker") in self._engine.silent
            ]
            for number in silent:
                self._replace(number, state=FAILED)
            return silent


__all__ = ["InMemoryStudy", "InMemoryStudyEngine", "StudyState"]
