"""One training process per run folder: a file lock, a heartbeat, and the status readers agree on.

Why both a lock and a heartbeat (see ``domain.run_owner``): the lock (``.lock``, an ``flock`` via
``filelock``) is what makes two ``train --resume`` of one run impossible on one machine: the kernel
grants it to one process and frees it when that process dies, however it dies. The heartbeat
(``.heartbeat.json``) is what other processes can *read*: who holds the folder, and whether it is
still alive, which the dashboard shows as ``running`` or ``interrupted`` without touching the lock.

Both files are dot-files at the top of the run folder, outside the run's seal; they live in the
store's ``local_dir`` because a lock only means something on the machine doing the training.
"""

from __future__ import annotations

import json
import logging
import os
import socket
import threading
import time
from pathlib import Path
from types import TracebackType
from typing import Optional, Type

from filelock import FileLock, Timeout

from verifily_core.domain.run_owner import (
    HEARTBEAT_SECONDS,
    RunOwner,
    effective_status,
    owner_alive,
)
from verifily_core.domain.runs import HEARTBEAT, RUN_LOCK
from verifily_core.errors import StoreError
from verifily_core.ports.artifact_store import ArtifactStore

log = logging.getLogger("verifily")


def pid_alive(pid: int) -> bool:
    """Whether a process with this pid exists on this host (signal 0 checks without sending)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True  # it exists, owned by another user
    except OSError:
        return False
    return True


def read_owner(run_dir: Path) -> Optional[RunOwner]:
    """The owner recorded in ``.heartbeat.json``, or None when there is none (or it is unreadable)."""
    try:
        return RunOwner.from_dict(json.loads((run_dir / HEARTBEAT).read_text(encoding="utf-8")))
    except (OSError, ValueError):
        return None


def owner_is_alive(owner: Optional[RunOwner]) -> bool:
    return owner_alive(owner, now=time.time(), host=socket.gethostname(), pid_alive=pid_alive)


def run_status(store: ArtifactStore, run_id: str, recorded: str) -> str:
    """The status to show and act on for a run whose ``run_meta.json`` says ``recorded``.

    The one place that turns ``running`` into ``interrupted`` when the training process is gone
    (killed, crashed, machine lost): the dashboard and ``train --resume`` both ask it.
    """
    if recorded != "running":
        return recorded
    try:
        run_dir = store.local_dir(run_id)
    except StoreError:
        return recorded
    return effective_status(recorded, owner_is_alive(read_owner(run_dir)))


class RunLock:
    """Hold a run folder for training: ``with RunLock(store, run_id): ...``.

    Entering refuses (``StoreError``, exit 2) when another process holds the folder: the lock is
    taken, or the heartbeat names another live process (another host on a shared filesystem, where
    ``flock`` may not reach). While held, a daemon thread refreshes the heartbeat; leaving removes
    the heartbeat and frees the lock.
    """

    def __init__(self, store: ArtifactStore, run_id: str) -> None:
        self.run_id = run_id
        self.run_dir = store.local_dir(run_id)
        self._lock = FileLock(str(self.run_dir / RUN_LOCK), timeout=0, is_singleton=False)
        self._stop = threading.Event()
        self._beat: Optional[threading.Thread] = None
        self._owner = RunOwner(os.getpid(), socket.gethostname(), time.time(), time.time())

    def __enter__(self) -> RunLock:
        try:
            self._lock.acquire()
        except Timeout:
            raise self._refusal(read_owner(self.run_dir)) from None
        previous = read_owner(self.run_dir)
        if previous is not None and previous.pid != os.getpid() and owner_is_alive(previous):
            self._lock.release()
            raise self._refusal(previous)
        self._write(self._owner)
        self._beat = threading.Thread(target=self._beat_loop, name=f"heartbeat-{self.run_id}", daemon=True)
        self._beat.start()
        return self

    def __exit__(
        self,
        exc_type: Optional[Type[BaseException]],
        exc: Optional[BaseException],
        tb: Optional[TracebackType],
    ) -> None:
        self._stop.set()
        if self._beat is not None:
            self._beat.join(timeout=HEARTBEAT_SECONDS)
        (self.run_dir / HEARTBEAT).unlink(missing_ok=True)
        self._lock.release()

    def _refusal(self, owner: Optional[RunOwner]) -> StoreError:
        who = owner.describe(time.time()) if owner is not None else "another process"
        return StoreError(
            f"Run {self.run_id} is being trained by {who}; a second training process in the same "
            "folder is refused.",
            hint="Wait for it to finish or stop it. A run whose process died shows as `interrupted` "
            "(dashboard) and can then be continued with `verifily train --resume <run folder>`.",
        )

    def _beat_loop(self) -> None:
        while not self._stop.wait(HEARTBEAT_SECONDS):
            try:
                self._write(RunOwner(self._owner.pid, self._owner.host, self._owner.started_at, time.time()))
            except OSError as exc:  # a full disk must not kill training; the beat just goes stale
                log.warning("cannot refresh %s: %s", self.run_dir / HEARTBEAT, exc)

    def _write(self, owner: RunOwner) -> None:
        """Atomic replace through a temp name that keeps the ``.heartbeat`` prefix (outside the seal)."""
        tmp = self.run_dir / f"{HEARTBEAT}.{os.getpid()}.tmp"
        tmp.write_text(json.dumps(owner.to_dict()), encoding="utf-8")
        os.replace(tmp, self.run_dir / HEARTBEAT)


def remove_temp_files(run_dir: Path) -> list[Path]:
    """Remove the ``.<name>.<random>.tmp`` files an atomic write left when its process was killed.

    Only call it while holding the run's :class:`RunLock`: then no write of this run is in flight.
    """
    removed = []
    for dirpath, _dirs, files in os.walk(run_dir):
        for name in files:
            if name.startswith(".") and name.endswith(".tmp"):
                path = Path(dirpath) / name
                path.unlink(missing_ok=True)
                removed.append(path)
    return removed
