"""The recording tracker and billing sink: they keep what they were given, or fail on request.

Why they can fail: a run must survive a broken tracker or billing sink, and tests prove it by
telling these fakes to raise.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Dict, Iterable, List, Mapping, Optional, Tuple

from verifily_core.errors import BillingError, TrackerError
from verifily_core.ports import BillingSink, Tracker

#: one recorded call of a fake: ``(method name, what it was given)``
Call = Tuple[str, Any]


class RecordingTracker(Tracker):
    """Keeps every call in ``calls`` (``("start", ...)``, ``("log", ...)``, ...).

    ``fail_on`` names methods that raise ``TrackerError`` instead (e.g. ``{"log"}``).
    """

    PLUGIN_NAME = "recording"

    def __init__(self, config: Any, run_dir: Path, *, fail_on: Iterable[str] = ()) -> None:
        super().__init__(config, run_dir)
        self.fail_on = set(fail_on)
        self.calls: List[Call] = []

    def _record(self, method: str, payload: Any) -> None:
        if method in self.fail_on:
            raise TrackerError(f"RecordingTracker told to fail in {method}()")
        self.calls.append((method, payload))

    def start(self, run_id: str, config: Mapping[str, Any]) -> None:
        self._record("start", (run_id, dict(config)))

    def log(self, metrics: Mapping[str, float], step: int) -> None:
        self._record("log", (step, dict(metrics)))

    def log_artifact(self, path: Path, name: str) -> None:
        self._record("log_artifact", (Path(path), name))

    def finish(self, summary: Mapping[str, Any]) -> None:
        self._record("finish", dict(summary))

    @property
    def logged(self) -> List[Tuple[int, Dict[str, float]]]:
        """``(step, metrics)`` of every successful ``log`` call, in order."""
        return [payload for method, payload in self.calls if method == "log"]


class RecordingBillingSink(BillingSink):
    """Keeps delivered events in ``events``; set ``fail`` to make ``emit`` raise ``BillingError``."""

    PLUGIN_NAME = "recording"

    def __init__(self, *, fail: bool = False) -> None:
        self.fail = fail
        self.events: List[Dict[str, Any]] = []
        self.attempts = 0
        self.closed = False

    @classmethod
    def from_environment(cls, run_dir: Optional[Path]) -> Optional[RecordingBillingSink]:
        """Always active: a test that registers it wants its events."""
        return cls()

    def emit(self, event: Mapping[str, Any]) -> None:
        self.attempts += 1
        if self.fail:
            raise BillingError(f"RecordingBillingSink told to fail (event {event.get('event_id')!r})")
        self.events.append(dict(event))

    def close(self) -> None:
        self.closed = True
