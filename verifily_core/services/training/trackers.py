"""Fan-out to the configured experiment trackers for the length of one run."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any, Callable, List, Mapping, Optional, Sequence

from verifily_core.config import TrainConfig
from verifily_core.errors import TrackerError
from verifily_core.ports.tracker import Tracker

log = logging.getLogger("verifily")


class TrackerFanout:
    """Fan-out to trackers; a tracker that fails is logged and dropped, never fails the run."""

    def __init__(self, trackers: List[Tracker]) -> None:
        self._trackers = trackers

    def _each(self, what: str, call: Callable[[Tracker], None]) -> None:
        for tracker in list(self._trackers):
            try:
                call(tracker)
            except Exception as exc:  # noqa: BLE001 - a tracker must never fail a run
                log.warning("tracker %s failed in %s, disabling it: %s", tracker.PLUGIN_NAME, what, exc)
                self._trackers.remove(tracker)

    def start(self, run_id: str, config: Mapping[str, Any]) -> None:
        self._each("start", lambda t: t.start(run_id, config))

    def log(self, metrics: Mapping[str, float], step: int) -> None:
        self._each("log", lambda t: t.log(metrics, step))

    def finish(self, summary: Mapping[str, Any], artifact: Optional[Path]) -> None:
        if artifact is not None and artifact.exists():
            self._each("log_artifact", lambda t: t.log_artifact(artifact, artifact.name))
        self._each("finish", lambda t: t.finish(summary))


def open_trackers(config: TrainConfig, run_dir: Path, types: Sequence[type[Tracker]]) -> TrackerFanout:
    trackers: List[Tracker] = []
    for cls in types:
        try:
            trackers.append(cls(config, run_dir))
        except TrackerError as exc:
            log.warning("%s", exc)
    return TrackerFanout(trackers)
