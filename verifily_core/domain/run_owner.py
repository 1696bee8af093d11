"""Who is training in a run folder, and whether that process is still alive.

Why a heartbeat as well as a lock: ``run_meta.json`` says ``running`` from the first step to the
last, and a process killed with SIGKILL (or a machine that lost power) never gets to change it. The
training process therefore records itself in ``.heartbeat.json`` (pid, host, start, last beat) and
refreshes it every :data:`HEARTBEAT_SECONDS`. A reader on the same host asks the kernel whether the
pid still exists; on another host (a shared filesystem) it relies on the beat being recent.

:func:`owner_alive` is the one decision: the dashboard's status column and ``train --resume``
both call it, so a run the dashboard shows as ``interrupted`` is exactly a run ``--resume`` accepts.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass
from typing import Any, Callable, Dict, Optional

HEARTBEAT_SECONDS = 10.0
STALE_AFTER_SECONDS = 120.0  # twelve missed beats: a process this silent is hung or gone


@dataclass(frozen=True)
class RunOwner:
    """The content of ``.heartbeat.json``: the process training in the folder."""

    pid: int
    host: str
    started_at: float  # unix seconds
    heartbeat_at: float  # unix seconds of the last beat

    def to_dict(self) -> Dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: Any) -> Optional[RunOwner]:
        """The owner a file describes, or None when it is not a well-formed record (read, never trusted)."""
        if not isinstance(data, dict):
            return None
        pid, host = data.get("pid"), data.get("host")
        times = [data.get("started_at"), data.get("heartbeat_at")]
        if not (isinstance(pid, int) and not isinstance(pid, bool) and pid > 0 and isinstance(host, str)):
            return None
        if not all(
            isinstance(t, (int, float)) and not isinstance(t, bool) and math.isfinite(t) for t in times
        ):
            return None
        return cls(pid, host, float(times[0]), float(times[1]))  # type: ignore[arg-type]

    def describe(self, now: float) -> str:
        """``process 123 on host-a (last heartbeat 4 s ago)``, for messages."""
        age = max(0.0, now - self.heartbeat_at)
        return f"process {self.pid} on {self.host} (last heartbeat {age:.0f} s ago)"


def _finite(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)


def owner_alive(
    owner: Optional[RunOwner], *, now: float, host: str, pid_alive: Callable[[int], bool]
) -> bool:
    """Whether ``owner`` is still training: a recent heartbeat and, on this host, a live pid."""
    if owner is None or now - owner.heartbeat_at > STALE_AFTER_SECONDS:
        return False
    return pid_alive(owner.pid) if owner.host == host else True


def effective_status(recorded: str, alive: bool) -> str:
    """The status to show and act on: a ``running`` run whose owner is gone was ``interrupted``."""
    return "interrupted" if recorded == "running" and not alive else recorded
