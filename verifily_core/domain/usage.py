"""Usage accounting as data: the billing event record, GPU-hours and the ``usage_summary.json`` body.

Why GPU-hours are computed here and not by the backend: billing must mean the same thing whatever
backend trained the run, so the arithmetic (wall hours x GPUs used, 0 on CPU) lives in one place
and every event carries the inputs it came from (``device``, ``num_gpus``, ``compute_hours``) in its
metadata, so a receiver can re-check it.
"""

from __future__ import annotations

import uuid
from dataclasses import asdict, dataclass, field, fields
from typing import Any, Dict, Iterable, List, Mapping, Optional

SECONDS_PER_HOUR = 3600.0
_HOURS_DIGITS = 6


@dataclass
class UsageRecord:
    """One billing event, exactly the guide's fields plus ``event_id``.

    ``event_id`` is minted once when the event is created and travels with it (sinks, the webhook
    outbox, ``usage_summary.json``), so a redelivery carries the same id and receivers can
    deduplicate on it.
    """

    run_id: str
    event: str
    timestamp: str
    gpu_type: Optional[str] = None
    gpu_hours: float = 0.0
    tokens_processed: int = 0
    train_rows: int = 0
    storage_bytes: int = 0
    metadata: Dict[str, Any] = field(default_factory=dict)
    event_id: str = field(default_factory=lambda: str(uuid.uuid4()))

    def to_dict(self) -> Dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> UsageRecord:
        """Rebuild a record from its JSON form, ignoring keys added by newer versions."""
        known = {f.name for f in fields(cls)}
        return cls(**{k: v for k, v in data.items() if k in known})


def is_gpu_device(device: str) -> bool:
    """``cuda``, ``cuda:1`` and ``mps`` bill GPU time; ``cpu`` (and anything unknown) does not."""
    return device.split(":", 1)[0] in ("cuda", "mps")


def compute_hours(wall_seconds: float) -> float:
    """Wall-clock hours of a span, whatever ran it."""
    return round(max(wall_seconds, 0.0) / SECONDS_PER_HOUR, _HOURS_DIGITS)


def gpu_hours(wall_seconds: float, device: str, num_gpus: int) -> float:
    """Wall hours x GPUs used; 0 on CPU. A GPU device reporting 0 GPUs still used one."""
    if not is_gpu_device(device):
        return 0.0
    return round(max(wall_seconds, 0.0) / SECONDS_PER_HOUR * max(num_gpus, 1), _HOURS_DIGITS)


def storage_mb(storage_bytes: int) -> float:
    """MiB, as the guide's example (52428800 bytes -> 50.0)."""
    return round(storage_bytes / 2**20, 3)


def usage_summary(run_id: str, records: Iterable[UsageRecord], storage_bytes: int) -> Dict[str, Any]:
    """The body of ``usage_summary.json``: the guide's totals plus the compute they were measured on.

    Totals are sums over events, because each end event covers only its own span (train, then
    eval, or the two halves of a resumed run): summing never double-counts. ``train_rows`` is the
    largest count instead, the size of the training set, which a resumed run reports twice.
    Device, GPU type and GPU count are those of the latest event, the closest to how the run ended.
    """
    events: List[UsageRecord] = list(records)
    last_meta = events[-1].metadata if events else {}
    return {
        "run_id": run_id,
        "total_gpu_hours": round(sum(e.gpu_hours for e in events), _HOURS_DIGITS),
        "total_tokens_processed": sum(e.tokens_processed for e in events),
        "storage_bytes": storage_bytes,
        "storage_mb": storage_mb(storage_bytes),
        "device": last_meta.get("device", "cpu"),
        "gpu_type": events[-1].gpu_type if events else None,
        "num_gpus": last_meta.get("num_gpus", 0),
        "compute_hours": round(
            sum(float(e.metadata.get("compute_hours", 0.0)) for e in events), _HOURS_DIGITS
        ),
        "train_rows": max((e.train_rows for e in events), default=0),
        "events": [e.to_dict() for e in events],
    }
