"""The study port: where a search keeps its trials, so that it survives a crash and workers share it.

A *study* is the state of one search: its trials and a few study-wide notes. A *trial* is one point
of the search: one value for each searched key, and its outcome. The tune use case drives the
search (which trials to queue, when to stop, what a result is); a study engine only stores the
study and hands its trials out. Optuna on an SQLAlchemy database is the built-in engine
(``verifily_adapters.optuna_study``); ``verifily_core.testing.InMemoryStudyEngine`` is the fake.

Contract for implementers
-------------------------
* ``StudyEngine`` is built without arguments (``Engine()``); ``PLUGIN_NAME`` names it.
  ``open_study(location, settings, create=...)`` opens the study ``settings.name`` at ``location``,
  which is either the URL a user gave (``verifily tune --storage``; the engine's own syntax,
  passed as is) or a ``Path`` of a file in the tune folder that the engine may use for a study of
  the search's own. With ``create=True`` a missing study is created, and ``Study.created`` says
  whether this call created it (workers starting together race: exactly one creates, the others
  join). Every failure is a ``TuneError`` naming the location with any password hidden: a location
  that cannot be opened, and (``create=False``) a study that is not there.
* Trials are numbered 0, 1, ... in creation order. States: ``queued`` (waiting for a worker),
  ``running``, ``completed`` (with a ``value``), ``failed``, ``skipped``. ``attrs`` are JSON values
  the use case recorded on the trial (``enqueue``, ``set_trial_attrs``; the engine adds ``worker``);
  ``params`` are the values a trial was given when asked, empty while it is queued.
* ``ask(space)`` claims a trial for this worker: the oldest queued trial, taken atomically (two
  workers, in threads, processes or machines, never take the same one), else a new trial whose
  values the engine proposes (``settings.strategy`` ``tpe``: from the results so far, anything
  else: at random). The trial is ``running`` with one value per key of ``space`` (its queued values
  where it has them), and ``attrs["worker"]`` is ``worker``, written before the values are picked.
  The engine keeps the trial alive (heartbeats, where it has them) until ``tell`` or ``release``.
* ``tell(number, state, value)`` finishes a running trial (``completed`` with its value,
  ``failed`` or ``skipped``); a trial that is no longer running is left as it is.
* ``release(number, reason)`` gives a running trial up as *interrupted*: ``failed``, with
  ``attrs["interrupted"] = True`` and ``attrs["error"] = reason``; False (and nothing changed) when
  it was no longer running, e.g. because another worker released it first.
  ``release_silent()`` releases every running trial whose worker has stopped showing signs of life
  (a lost machine: no heartbeat for the engine's grace period) and returns their numbers; such a
  trial ends ``failed`` without an ``error``, which the use case also reads as interrupted. An
  engine that cannot tell returns ``[]``.
* ``worker`` is this worker's id; ``worker_stopped(worker)`` is True only when that worker is
  known to be gone (on this machine, its process is gone), False when it lives or cannot be told.
* ``close()`` ends this worker's use of the study (a trial it still holds stays running: its
  heartbeats stop, so other workers notice it). Every method is safe to call from several threads
  of one process, each with its own ``Study``.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ClassVar, Dict, List, Mapping, Optional, Union

from verifily_core.domain.search import Scalar, SearchSpace

QUEUED = "queued"
RUNNING = "running"
COMPLETED = "completed"
FAILED = "failed"
SKIPPED = "skipped"
TRIAL_STATES = (QUEUED, RUNNING, COMPLETED, FAILED, SKIPPED)
FINAL_STATES = (COMPLETED, FAILED, SKIPPED)


@dataclass(frozen=True)
class StudySettings:
    """What identifies a study and how its engine proposes values.

    ``name``: workers that open the same name at the same location share the study.
    ``direction``: ``minimize`` or ``maximize`` (what a proposing engine aims for).
    ``strategy``: ``grid``, ``random`` or ``tpe``; only ``tpe`` studies ask the engine for values,
    the others queue every trial they run. ``seed`` seeds the engine's proposals.
    """

    name: str
    direction: str
    strategy: str
    seed: int


@dataclass(frozen=True)
class Trial:
    """One trial as the study holds it (a copy: changing it changes nothing in the study)."""

    number: int
    state: str
    params: Dict[str, Scalar] = field(default_factory=dict)
    value: Optional[float] = None
    attrs: Dict[str, Any] = field(default_factory=dict)


class Study(ABC):
    """One worker's handle on one study; see the module contract."""

    def __init__(self, *, created: bool) -> None:
        self.created = created

    @property
    @abstractmethod
    def worker(self) -> str:
        """This worker's id, as ``ask`` writes it into ``attrs["worker"]``."""

    @abstractmethod
    def worker_stopped(self, worker: str) -> bool:
        """Whether ``worker`` is known to be gone (True) or lives / cannot be told (False)."""

    @abstractmethod
    def attrs(self) -> Dict[str, Any]:
        """The study-wide notes (JSON values by key)."""

    @abstractmethod
    def set_attr(self, key: str, value: Any) -> None:
        """Write one study-wide note; the last writer wins."""

    @abstractmethod
    def trials(self) -> List[Trial]:
        """Every trial, by number."""

    @abstractmethod
    def enqueue(self, params: Mapping[str, Scalar], attrs: Optional[Mapping[str, Any]] = None) -> None:
        """Queue a new trial that will be asked with ``params`` and carries ``attrs``."""

    @abstractmethod
    def ask(self, space: SearchSpace) -> Trial:
        """Claim a trial for this worker (the oldest queued one, else a proposed one): running."""

    @abstractmethod
    def set_trial_attrs(self, number: int, attrs: Mapping[str, Any]) -> None:
        """Record ``attrs`` on a trial this worker holds (running)."""

    @abstractmethod
    def tell(self, number: int, state: str, value: Optional[float] = None) -> None:
        """Finish a running trial: ``completed`` (with ``value``), ``failed`` or ``skipped``."""

    @abstractmethod
    def release(self, number: int, reason: str) -> bool:
        """Give a running trial up as interrupted; False when it was no longer running."""

    @abstractmethod
    def release_silent(self) -> List[int]:
        """Release the running trials whose workers went silent; their numbers."""

    def close(self) -> None:
        """End this worker's use of the study (connections, heartbeats); idempotent."""


class StudyEngine(ABC):
    """Opens studies; the class a plugin registers (see the module contract)."""

    PLUGIN_NAME: ClassVar[str]

    @abstractmethod
    def open_study(self, location: Union[str, Path], settings: StudySettings, *, create: bool) -> Study:
        """The study ``settings.name`` at ``location``; created first when absent and ``create``."""


__all__ = [
    "COMPLETED",
    "FAILED",
    "FINAL_STATES",
    "QUEUED",
    "RUNNING",
    "SKIPPED",
    "TRIAL_STATES",
    "Study",
    "StudyEngine",
    "StudySettings",
    "Trial",
]
