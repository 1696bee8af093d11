"""Opening an Optuna RDB storage: the URL of a location, retries for racing workers, SQLite locking,
and URLs fit for messages.

SQLAlchemy and the database drivers are only reached through Optuna's ``RDBStorage``, except for
the SQLite locking hooks below.
"""

from __future__ import annotations

import random
import time
import warnings
from pathlib import Path
from typing import Any, Callable, Union

from verifily_core.errors import TuneError

HEARTBEAT_S = 30
GRACE_S = 120
# SQLAlchemy's, seen when workers race to create a fresh database's tables (PostgreSQL: a
# ProgrammingError, "type studydirection already exists"); a real error still shows after the retries
_RACE_ERRORS = ("OperationalError", "IntegrityError", "ProgrammingError")


def storage_url(location: Union[str, Path]) -> str:
    """A URL as given (``--storage``), or the SQLite database at a path (the tune folder's study)."""
    return location if isinstance(location, str) else f"sqlite:///{location}"


def open_storage(url: str, on_stale: Callable[[Any, Any], None], attempts: int = 5) -> Any:
    """Optuna's RDB storage with heartbeats; retried because workers starting together on a fresh
    database race to create its tables, and the loser's first attempt fails."""
    import optuna

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


__all__ = ["GRACE_S", "HEARTBEAT_S", "open_storage", "redact", "storage_url"]
