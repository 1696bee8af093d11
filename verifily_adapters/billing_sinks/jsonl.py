"""``VERIFILY_BILLING_LOG=path``: every billing event appended to one JSONL file.

Several runs (or the ranks of one) may share the file, so each event is one locked, fsynced append
(see :mod:`verifily_adapters.billing_sinks.appendlog`): lines never interleave and survive a crash.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any, Mapping, Optional

from verifily_adapters.billing_sinks.appendlog import append_jsonl
from verifily_core.errors import BillingError
from verifily_core.ports.billing_sink import BillingSink

ENV_LOG = "VERIFILY_BILLING_LOG"


class JsonlBillingSink(BillingSink):
    """Appends one JSON object per event to ``path``."""

    PLUGIN_NAME = "jsonl"

    def __init__(self, path: Path) -> None:
        self.path = Path(path).expanduser()

    @classmethod
    def from_environment(cls, run_dir: Optional[Path]) -> Optional[JsonlBillingSink]:
        value = os.environ.get(ENV_LOG, "").strip()
        return cls(Path(value)) if value else None

    def emit(self, event: Mapping[str, Any]) -> None:
        try:
            append_jsonl(self.path, [event])
        except OSError as exc:
            raise BillingError(
                f"Cannot append to the billing log {self.path}: {exc.strerror or exc}",
                hint=f"Point {ENV_LOG} at a writable file.",
            ) from exc
