"""The billing use case: measure a span of work, turn it into usage events, hand them out.

Why hooks and sinks are fenced off: billing is a side channel. A user's hook that raises, a
webhook that is down, a log file on a full disk must never fail the training that is being billed,
so every delivery is wrapped, logged on the ``verifily`` logger, and the next one still runs.
``usage_summary.json`` is different: it is a run artifact and is written through the store.
"""

from __future__ import annotations

import logging
import time
from pathlib import Path
from typing import Any, Callable, Dict, List, Mapping, Optional, Sequence, Union

from verifily_core.domain.runs import USAGE_SUMMARY, iso, utc_now
from verifily_core.domain.usage import UsageRecord, compute_hours, gpu_hours, usage_summary
from verifily_core.errors import BillingError, StoreError, VerifilyError
from verifily_core.ports.artifact_store import ArtifactStore, StoreFactory
from verifily_core.ports.billing_sink import BillingSink

logger = logging.getLogger("verifily")

BillingHook = Callable[[UsageRecord], Any]


def open_sinks(types: Sequence[type[BillingSink]], run_dir: Optional[Path]) -> List[BillingSink]:
    """The sinks the environment asks for (``VERIFILY_BILLING_LOG``, ``VERIFILY_BILLING_WEBHOOK``,
    a plugin's own variables): each sink class decides in ``from_environment``; a misconfigured one
    is reported and left out, never failing the work being billed."""
    sinks: List[BillingSink] = []
    for cls in types:
        try:
            sink = cls.from_environment(run_dir)
        except VerifilyError as exc:
            logger.warning("billing sink %s disabled: %s", getattr(cls, "PLUGIN_NAME", cls.__name__), exc)
            continue
        if sink is not None:
            sinks.append(sink)
    return sinks


class BillingTracker:
    """Records ``start``/``end`` spans of a run as :class:`UsageRecord` events.

    Build it on a store (``BillingTracker(run_id, store)``, what the services do) or on a run
    folder (``artifact_path=...`` plus a ``store_factory`` that opens a store on it: the
    ``verifily_train.billing`` facade supplies the local one, so the guide's
    ``BillingTracker(run_id="run_abc", artifact_path="runs/run_abc")`` works). The folder's name
    is its key in the store; ``run_id`` is what events report, and the two may differ.

    The compute a span ran on (``device``, ``gpu_type``, ``num_gpus``) is often known only once
    the backend started: :meth:`configure` updates it before :meth:`end`.
    """

    def __init__(
        self,
        run_id: str,
        store: Optional[ArtifactStore] = None,
        *,
        artifact_path: Union[str, Path, None] = None,
        store_factory: Optional[StoreFactory] = None,
        sinks: Sequence[BillingSink] = (),
        device: str = "cpu",
        gpu_type: Optional[str] = None,
        num_gpus: int = 0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.run_id = run_id
        self._store_key = run_id
        if artifact_path is not None:
            folder = Path(artifact_path).resolve()
            self._store_key = folder.name
            if store is None:
                if store_factory is None:
                    raise BillingError(
                        "BillingTracker(artifact_path=...) needs a store to write usage_summary.json",
                        hint="Use `from verifily_train.billing import BillingTracker`, or pass store=.",
                    )
                store = store_factory(folder)
        self._store = store
        self._sinks: List[BillingSink] = list(sinks)
        self._hooks: List[BillingHook] = []
        self._clock = clock
        self._open_spans: Dict[str, float] = {}
        self._records: List[UsageRecord] = []
        self.configure(device, gpu_type, num_gpus)

    # ------------------------------------------------------------------ public API
    @property
    def records(self) -> List[UsageRecord]:
        """The events this tracker emitted, in order."""
        return list(self._records)

    def add_hook(self, fn: BillingHook) -> None:
        """Call ``fn(record)`` on every event; an exception in it is logged, never raised."""
        self._hooks.append(fn)

    def configure(self, device: str, gpu_type: Optional[str] = None, num_gpus: int = 0) -> None:
        """What the current span runs on; GPU-hours of the next ``end`` are computed from it."""
        self.device = device
        self.gpu_type = gpu_type
        self.num_gpus = num_gpus

    def start(self, event: str = "train_start") -> UsageRecord:
        """Open a span (``train`` for ``train_start``) and emit its start event."""
        self._open_spans[_span(event)] = self._clock()
        record = self._record(event, wall_seconds=0.0)
        self._records.append(record)
        return self._dispatch(record)

    def end(
        self,
        event: str = "train_end",
        tokens_processed: int = 0,
        train_rows: int = 0,
        *,
        metadata: Optional[Mapping[str, Any]] = None,
    ) -> UsageRecord:
        """Close the matching span (``train_end`` closes ``train_start``), emit the end event and
        write ``usage_summary.json``; returns the event.

        Spans should not overlap (end training before evaluating), since the summary's totals
        add them up. Without a matching start the span counts as 0 seconds (and a warning is
        logged) rather than failing the run over a bookkeeping slip.
        """
        started = self._open_spans.pop(_span(event), None)
        if started is None:
            logger.warning("Billing: %s without a start event for run %s; counting 0 s", event, self.run_id)
            wall = 0.0
        else:
            wall = self._clock() - started
        record = self._record(
            event,
            wall_seconds=wall,
            tokens_processed=tokens_processed,
            train_rows=train_rows,
            metadata=metadata,
        )
        self._records.append(record)
        self._write_summary(record.storage_bytes)
        return self._dispatch(record)

    def close(self) -> None:
        """Let every sink flush; failures are logged."""
        for sink in self._sinks:
            self._guarded(f"billing sink {type(sink).__name__} close", sink.close)

    # ------------------------------------------------------------------ internals
    def _record(
        self,
        event: str,
        *,
        wall_seconds: float,
        tokens_processed: int = 0,
        train_rows: int = 0,
        metadata: Optional[Mapping[str, Any]] = None,
    ) -> UsageRecord:
        meta: Dict[str, Any] = {
            "device": self.device,
            "num_gpus": self.num_gpus,
            "wall_seconds": round(wall_seconds, 3),
            "compute_hours": compute_hours(wall_seconds),
        }
        meta.update(metadata or {})
        return UsageRecord(
            run_id=self.run_id,
            event=event,
            timestamp=iso(utc_now()),
            gpu_type=self.gpu_type,
            gpu_hours=gpu_hours(wall_seconds, self.device, self.num_gpus),
            tokens_processed=int(tokens_processed),
            train_rows=int(train_rows),
            storage_bytes=self._storage_bytes(),
            metadata=meta,
        )

    def _dispatch(self, record: UsageRecord) -> UsageRecord:
        for hook in self._hooks:
            self._guarded(f"billing hook {getattr(hook, '__name__', hook)!s}", hook, record)
        payload = record.to_dict()
        for sink in self._sinks:
            self._guarded(f"billing sink {type(sink).__name__}", sink.emit, payload)
        return record

    def _guarded(self, what: str, fn: Callable[..., Any], *args: Any) -> None:
        try:
            fn(*args)
        except Exception as exc:  # noqa: BLE001 - a side channel must never fail the run
            logger.warning("%s failed for run %s: %s", what, self.run_id, exc)

    def _storage_bytes(self) -> int:
        if self._store is None:
            return 0
        try:
            return self._store.size_bytes(self._store_key)
        except StoreError as exc:
            logger.warning("Billing: cannot measure the run folder of %s: %s", self.run_id, exc)
            return 0

    def _write_summary(self, storage_bytes: int) -> None:
        """Merge this tracker's events with those already in the summary (train, then eval)."""
        if self._store is None:
            return
        earlier: List[UsageRecord] = []
        if self._store.exists(self._store_key, USAGE_SUMMARY):
            try:
                saved = self._store.read_json(self._store_key, USAGE_SUMMARY)
                earlier = [UsageRecord.from_dict(e) for e in saved.get("events", [])]
            except (StoreError, AttributeError, TypeError) as exc:
                logger.warning("Billing: ignoring an unreadable %s: %s", USAGE_SUMMARY, exc)
        mine = {r.event_id for r in self._records}
        events = [e for e in earlier if e.event_id not in mine] + self._records
        body = usage_summary(self.run_id, events, storage_bytes)
        self._store.write_json(self._store_key, USAGE_SUMMARY, body)


def _span(event: str) -> str:
    """The span an event opens or closes: ``train`` for ``train_start`` and ``train_end``."""
    for suffix in ("_start", "_end"):
        if event.endswith(suffix):
            return event[: -len(suffix)]
    return event
