"""The BillingSink port: where usage events go (JSONL file, webhook, your billing system).

Contract for implementers
-------------------------
* ``from_environment(run_dir)`` returns a configured sink, or None when its environment variable
  is not set (``VERIFILY_BILLING_LOG``, ``VERIFILY_BILLING_WEBHOOK``, ...). ``PLUGIN_NAME`` names it.
* ``emit(event)`` delivers one event (the JSON dict of a ``UsageRecord`` plus ``event_id``, stable
  per event so that receivers can deduplicate). It must return within a bounded time whatever the
  endpoint does; it raises ``BillingError`` on failure, which the billing tracker logs and swallows.
* ``close()`` flushes; events that could not be delivered must not be lost silently (the webhook
  sink keeps them in the run's ``billing_outbox.jsonl``).
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from pathlib import Path
from typing import Any, ClassVar, Mapping, Optional


class BillingSink(ABC):
    PLUGIN_NAME: ClassVar[str]

    @classmethod
    @abstractmethod
    def from_environment(cls, run_dir: Optional[Path]) -> Optional[BillingSink]:
        """A configured sink, or None when the environment does not ask for this sink."""

    @abstractmethod
    def emit(self, event: Mapping[str, Any]) -> None:
        """Deliver one usage event within a bounded time; ``BillingError`` on failure."""

    def close(self) -> None:
        """Flush pending events; the default does nothing."""
