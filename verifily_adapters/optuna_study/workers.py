"""Who a worker is, whether a worker on this machine still lives, and the heartbeat of its trial.

Why a process id: a worker on this machine that was killed (``kill -9``, a crash) is known dead at
once when its pid is gone, without waiting the heartbeat grace period that a worker on another
machine needs.
"""

from __future__ import annotations

import os
import socket
import threading
from typing import Any, Optional


def worker_id() -> str:
    """``<host>:<pid>`` (``/<thread>`` outside the main thread): enough to tell, on this machine,
    whether a trial's worker still lives, and to tell apart workers run as threads of one process."""
    thread = threading.get_native_id()
    return f"{socket.gethostname()}:{os.getpid()}" + (f"/{thread}" if thread != os.getpid() else "")


def dead_here(worker: str) -> bool:
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


class Heartbeat:
    """Records a trial's heartbeat in the storage every ``interval`` seconds until stopped (what
    Optuna's own optimize loop does for the trials it runs)."""

    def __init__(self, storage: Any, trial_id: int, interval: float) -> None:
        self._storage, self._trial_id, self._interval = storage, trial_id, interval
        self._stop = threading.Event()
        self._thread: Optional[threading.Thread] = threading.Thread(
            target=self._beat, name=f"verifily-heartbeat-{trial_id}", daemon=True
        )
        self._thread.start()

    def _beat(self) -> None:
        while True:
            self._storage.record_heartbeat(self._trial_id)
            if self._stop.wait(self._interval):
                return

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join()
            self._thread = None


__all__ = ["Heartbeat", "dead_here", "worker_id"]
