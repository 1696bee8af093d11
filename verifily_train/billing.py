"""The guide's billing API: ``from verifily_train.billing import BillingTracker, UsageRecord``.

``BillingTracker(run_id="run_abc", artifact_path="runs/run_abc")`` is the core tracker on a local
run folder: the folder is created if needed and ``end`` saves ``usage_summary.json`` into it.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Union

from verifily_core.domain.usage import UsageRecord
from verifily_core.ports.artifact_store import ArtifactStore
from verifily_core.services.billing.tracker import BillingTracker as _CoreBillingTracker

__all__ = ["BillingTracker", "UsageRecord"]


def _local_store(folder: Path) -> ArtifactStore:
    """The store of the runs folder holding ``folder`` (created if needed), as bootstrap opens it."""
    from verifily_core.bootstrap import open_store

    folder.mkdir(parents=True, exist_ok=True)
    return open_store(folder.parent)


class BillingTracker(_CoreBillingTracker):
    """The core :class:`~verifily_core.services.billing.tracker.BillingTracker`, opened on a local folder,
    set up as ``verifily train`` sets up its own: the sinks the environment asks for
    (``VERIFILY_BILLING_LOG``, ``VERIFILY_BILLING_WEBHOOK``) unless ``sinks=`` is given, and the
    compute of this machine (``nvidia-smi``'s GPUs, else MPS or CPU) unless ``device=`` is given."""

    def __init__(self, run_id: str, artifact_path: Union[str, Path, None] = None, **kwargs: Any) -> None:
        kwargs.setdefault("store_factory", _local_store)
        if "sinks" not in kwargs:
            from verifily_core.bootstrap import billing_sinks

            folder = Path(artifact_path).resolve() if artifact_path is not None else None
            kwargs["sinks"] = billing_sinks(folder)
        if "device" not in kwargs:
            from verifily_adapters.hf_backend.environment import detect_compute

            kwargs["device"], kwargs["gpu_type"], kwargs["num_gpus"] = detect_compute()
        super().__init__(run_id, artifact_path=artifact_path, **kwargs)
