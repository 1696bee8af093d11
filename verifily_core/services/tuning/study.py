"""The Optuna side of a search: the storage, the trial queue, and trials whose worker died.

Grid and random searches enqueue their whole plan (every combination, or a seeded sample of them)
as Optuna WAITING trials, each tagged with its plan index. Workers only pop WAITING trials, which
Optuna hands out atomically (a state change checked in the database), so two workers never run the
same planned trial; and since a trial's values are fixed from its creation, a trial killed at any
moment can be queued again with the same values. TPE proposes values as it goes instead; its repeats
are caught by the duplicate check of the tune service.

A trial is *interrupted* (FAIL, and queued again) when its worker stopped: Ctrl-C (marked by the
worker itself), a dead process on this machine (its pid is gone), or silence (no heartbeat for
``GRACE_S`` seconds: a lost machine). A failure of training itself always carries an ``error``.
Optuna is pure Python and imported lazily.
"""

from __future__ import annotations

import os
import random
import socket
import threading
import time
import warnings
from typing import Any, Callable, Dict, List, Optional, Sequence, Set

from verifily_core.domain.runs import iso, utc_now
from verifily_core.domain.search import Scalar
from verifily_core.errors import TuneError

HEARTBEAT_S = 30
GRACE_S = 120
WORKER_KEY = "worker:"  # study user attrs "worker:<host>:<pid>": every worker that joined the study
# SQLAlchemy's, seen when workers race to create a fresh database's tables (PostgreSQL: a
# ProgrammingError, "type studydirection already exists"); a real error still shows after the retries
_RACE_ERRORS = ("OperationalError", "IntegrityError", "ProgrammingError")

Plan = List[Dict[str, Scalar]]


def optuna_module() -> Any:
    import optuna

    return optuna


def worker_id() -> str:
    """``<host>:<pid>`` (``/<thread>`` outside the main thread): enough to tell, on this machine,
    whether a trial's worker still lives, and to tell apart workers run as threads of one process."""
    thread = threading.get_native_id()
    return f"{socket.gethostname()}:{os.getpid()}" + (f"/{thread}" if thread != os.getpid() else "")


def open_storage(url: str, on_stale: Callable[[Any, Any], None], attempts: int = 5) -> Any:
    """Optuna's RDB storage with heartbeats; retried because workers starting together on a fresh
    database race to create its tables, and the loser's first attempt fails."""
    optuna = optuna_module()
    engine = {"connect_args": {"timeout": 60}} if url.startswith("sqlite") else {}
    for attempt in range(1, attempts + 1):
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                storage = optuna.storages.RDBStorage(
                    url,
                    engine_kwargs=engine,
                    heartbeat_interval=HEARTBEAT_S,
                    grace_period=GRACE_S,
                    heartbeat_stale_trial_callback=on_stale,
                )
            if url.startswith("sqlite"):
                _serialize_sqlite(storage)
            return storage
        except Exception as exc:  # noqa: BLE001 - SQLAlchemy and drivers raise many kinds
            if attempt < attempts and type(exc).__name__ in _RACE_ERRORS:
                time.sleep(0.2 * attempt + random.random() * 0.3)
                continue
            reason = (str(exc).strip().splitlines() or [""])[0][:300]
            raise TuneError(
                f"Cannot open the study storage {redact(url)}: {type(exc).__name__}: {reason}",
                hint="Give an Optuna RDB URL such as sqlite:///runs/study.db or "
                "postgresql://user@host/db (its driver, psycopg 3: pip install 'verifily-train[postgres]').",
            ) from None
    raise AssertionError("unreachable")


def _serialize_sqlite(storage: Any) -> None:
    """SQLite ignores ``SELECT ... FOR UPDATE``, so Optuna's check-then-set of a trial's state (how a
    worker takes a queued trial) races between workers: two could take the same trial. Starting every
    transaction with ``BEGIN IMMEDIATE`` takes the write lock before the check, making it atomic."""
    from sqlalchemy import event

    def no_implicit_begin(dbapi_connection: Any, _record: Any) -> None:
        dbapi_connection.isolation_level = None

    def begin_immediate(connection: Any) -> None:
        connection.exec_driver_sql("BEGIN IMMEDIATE")

    event.listen(storage.engine, "connect", no_implicit_begin)
    event.listen(storage.engine, "begin", begin_immediate)
    storage.engine.dispose()  # connections opened so far lack the hooks


def redact(url: str) -> str:
    """A storage URL fit for messages: the password (if any) replaced by ``***``."""
    head, sep, tail = url.partition("://")
    credentials, at, host = tail.rpartition("@")
    if not at or ":" not in credentials:
        return url
    return f"{head}{sep}{credentials.split(':', 1)[0]}:***@{host}"


def _dead_here(worker: str) -> bool:
    """Whether ``worker`` ran on this machine and its process is gone."""
    host, _, process = worker.rpartition(":")
    pid = process.split("/")[0]
    if host != socket.gethostname() or not pid.isdigit():
        return False
    try:
        os.kill(int(pid), 0)
    except ProcessLookupError:
        return True
    except PermissionError:
        return False
    return False


def is_interrupted(t: Any) -> bool:
    state = optuna_module().trial.TrialState
    return bool(t.state == state.FAIL and (t.user_attrs.get("interrupted") or "error" not in t.user_attrs))


def effective(trials: Sequence[Any]) -> List[Any]:
    """Trials that take a place in the budget: neither skipped (PRUNED) nor interrupted."""
    pruned = optuna_module().trial.TrialState.PRUNED
    return [t for t in trials if t.state != pruned and not is_interrupted(t)]


def retried(trials: Sequence[Any]) -> Set[int]:
    """Numbers of interrupted trials already queued again."""
    return {t.user_attrs["retry_of"] for t in trials if "retry_of" in t.user_attrs}


def requeue(study: Any, trial: Any, plan: Optional[Plan]) -> None:
    """Queue an interrupted trial again, with the same values (from the plan when it has a place)."""
    planned = trial.user_attrs.get("planned")
    params = plan[planned] if plan is not None and planned is not None else dict(trial.params)
    if params:
        attrs = {"retry_of": trial.number, **({"planned": planned} if planned is not None else {})}
        study.enqueue_trial(params, user_attrs=attrs)


def register(study: Any) -> None:
    study.set_user_attr(WORKER_KEY + worker_id(), iso(utc_now()))


def recover(study: Any, storage: Any, study_name: str, plan: Optional[Plan]) -> None:
    """Mark the trials of dead workers interrupted and queue them again (this worker is registered).

    A RUNNING trial names its worker; one that does not yet (its worker died between taking it and
    writing its name) is dead when every other worker that ever joined the study is a dead process
    on this machine. Anything else is left to the heartbeat check.
    """
    optuna = optuna_module()
    state = optuna.trial.TrialState
    me = worker_id()
    others = [
        k[len(WORKER_KEY) :] for k in study.user_attrs if k.startswith(WORKER_KEY) and k != WORKER_KEY + me
    ]
    nobody_else = all(_dead_here(w) for w in others)
    study_id = storage.get_study_id_from_name(study_name)
    for t in study.get_trials(deepcopy=False, states=(state.RUNNING,)):
        owner = t.user_attrs.get("worker")
        if (owner and owner != me and _dead_here(owner)) or (not owner and nobody_else):
            trial_id = storage.get_trial_id_from_study_id_trial_number(study_id, t.number)
            try:
                storage.set_trial_user_attr(trial_id, "interrupted", True)
                why = f"interrupted: its worker {owner or '(unnamed)'} stopped"
                storage.set_trial_user_attr(trial_id, "error", why)
                storage.set_trial_state_values(trial_id, state=state.FAIL)
            except optuna.exceptions.UpdateFinishedTrialError:
                continue  # another worker got there first
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        optuna.storages.fail_stale_trials(study)  # silent workers elsewhere; its callback requeues
    trials = study.get_trials(deepcopy=False)
    done = retried(trials)
    for t in trials:
        if is_interrupted(t) and t.number not in done:
            requeue(study, t, plan)


def ensure_plan(study: Any, plan: Plan) -> None:
    """Queue every planned trial that no live trial holds (all of them in a new study)."""
    held = {t.user_attrs.get("planned") for t in effective(study.get_trials(deepcopy=False))}
    for index, params in enumerate(plan):
        if index not in held:
            study.enqueue_trial(params, user_attrs={"planned": index})


__all__ = [
    "GRACE_S",
    "HEARTBEAT_S",
    "Plan",
    "effective",
    "ensure_plan",
    "is_interrupted",
    "open_storage",
    "optuna_module",
    "recover",
    "redact",
    "register",
    "requeue",
    "retried",
    "worker_id",
]
