"""TensorBoard event files under ``<run>/logs/`` (the guide's section 17), for every run.

Why tensorboard's own event writer rather than ``torch.utils.tensorboard``: the scalars are plain
protobufs, and the tracker then works (and its tests run) without importing torch. Values are
written as ``simple_value`` scalars, which TensorBoard's Scalars tab and ``EventAccumulator`` read.
"""

from __future__ import annotations

import numbers
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any, Dict, Mapping, Optional

from verifily_core.config import TrainConfig
from verifily_core.domain.runs import LOGS_DIR
from verifily_core.errors import TrackerError
from verifily_core.ports.tracker import Tracker

if TYPE_CHECKING:
    from tensorboard.summary.writer.event_file_writer import EventFileWriter


class TensorBoardTracker(Tracker):
    """Writes scalar metrics to ``run_dir/logs``; final metrics go under ``final/<name>``."""

    PLUGIN_NAME = "tensorboard"

    def __init__(self, config: TrainConfig, run_dir: Path) -> None:
        super().__init__(config, run_dir)
        self.logdir = self.run_dir / LOGS_DIR
        self._writer: Optional[EventFileWriter] = None
        self._last_step = 0

    def start(self, run_id: str, config: Mapping[str, Any]) -> None:
        try:
            from tensorboard.summary.writer.event_file_writer import EventFileWriter
        except ImportError as exc:
            raise TrackerError(
                "TensorBoard logging needs the tensorboard package",
                hint="pip install tensorboard (a dependency of verifily-train)",
            ) from exc
        try:
            self._writer = EventFileWriter(str(self.logdir), flush_secs=10)
        except OSError as exc:
            raise TrackerError(f"Cannot write TensorBoard logs to {self.logdir}: {exc}") from exc

    def log(self, metrics: Mapping[str, float], step: int) -> None:
        self._write(metrics, step)
        self._last_step = max(self._last_step, step)

    def finish(self, summary: Mapping[str, Any]) -> None:
        self._write({f"final/{k}": v for k, v in summary.items()}, self._last_step)
        writer, self._writer = self._writer, None
        if writer is not None:
            writer.close()

    def _write(self, metrics: Mapping[str, Any], step: int) -> None:
        if self._writer is None:
            raise TrackerError("The TensorBoard tracker was used before start() or after finish()")
        scalars: Dict[str, float] = {
            k: float(v) for k, v in metrics.items() if isinstance(v, numbers.Real) and not isinstance(v, bool)
        }
        if not scalars:
            return
        from tensorboard.compat.proto.event_pb2 import Event
        from tensorboard.compat.proto.summary_pb2 import Summary

        values = [Summary.Value(tag=tag, simple_value=value) for tag, value in scalars.items()]
        event = Event(wall_time=time.time(), step=int(step), summary=Summary(value=values))
        try:
            self._writer.add_event(event)
            self._writer.flush()
        except OSError as exc:
            raise TrackerError(f"Cannot write TensorBoard logs to {self.logdir}: {exc}") from exc
