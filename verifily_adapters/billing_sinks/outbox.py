"""``verifily billing flush``: re-deliver the events the webhook sink could not deliver during runs.

Each line of a run's ``billing_outbox.jsonl`` is ``{"url", "queued_at", "error", "event"}``; the
event keeps its ``event_id``, so the receiver sees the same ``webhook-id`` it may already have
half-processed and can deduplicate. The URL stored with the event is used unless one is given
(the endpoint may have moved); the secret is never stored, it comes from the argument or
``VERIFILY_BILLING_WEBHOOK_SECRET``.

Why the outbox is read, then delivered, then rewritten in two separate locked steps: delivery may
take the whole retry budget, and a run still in progress must be able to append to its outbox
meanwhile. The rewrite removes only the ids that were delivered, from the file as it is by then.
"""

from __future__ import annotations

import json
import os
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Dict, Iterator, List, Optional, Union

from verifily_adapters.billing_sinks.appendlog import locked, read_lines, replace_lines
from verifily_adapters.billing_sinks.webhook import (
    DEFAULT_TIMEOUT,
    ENV_SECRET,
    ENV_URL,
    WebhookBillingSink,
    retry_budget_from_environment,
)
from verifily_core.domain.runs import BILLING_OUTBOX
from verifily_core.errors import BillingError


@dataclass
class FlushReport:
    """What a flush did: events delivered, events still waiting, and why each one waits."""

    outboxes: int = 0
    delivered: int = 0
    failed: int = 0
    problems: List[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return self.failed == 0 and not self.problems

    def to_dict(self) -> Dict[str, Any]:
        return {**asdict(self), "ok": self.ok}


def flush_outbox(
    runs_dir: Union[str, Path],
    *,
    url: Optional[str] = None,
    secret: Optional[str] = None,
    timeout: float = DEFAULT_TIMEOUT,
    retry_budget: Optional[float] = None,
) -> FlushReport:
    """Deliver every outbox event under ``runs_dir`` (a runs root or a single run folder).

    Delivered events are removed from their outbox (the file is removed once empty); the others
    stay, and the report says why. Raises ``BillingError`` only when ``runs_dir`` is not a folder.
    """
    root = Path(runs_dir)
    if not root.is_dir():
        raise BillingError(
            f"No runs folder at {root}", hint="Pass the folder that holds your runs: --runs-dir runs/"
        )
    sinks = _Sinks(
        secret=secret if secret is not None else (os.environ.get(ENV_SECRET) or None),
        timeout=timeout,
        retry_budget=retry_budget if retry_budget is not None else retry_budget_from_environment(),
    )
    report = FlushReport()
    try:
        for outbox in _outboxes(root):
            report.outboxes += 1
            _flush_one(outbox, url, sinks, report)
    finally:
        sinks.close()
    return report


class _Sinks:
    """One webhook sink per URL, so the retry budget is shared by all events sent there."""

    def __init__(self, *, secret: Optional[str], timeout: float, retry_budget: float) -> None:
        self._options: Dict[str, Any] = {"secret": secret, "timeout": timeout, "retry_budget": retry_budget}
        self._by_url: Dict[str, WebhookBillingSink] = {}

    def get(self, url: str) -> WebhookBillingSink:
        if url not in self._by_url:
            self._by_url[url] = WebhookBillingSink(url, **self._options)
        return self._by_url[url]

    def close(self) -> None:
        for sink in self._by_url.values():
            sink.close()


def _outboxes(root: Path) -> Iterator[Path]:
    if (root / BILLING_OUTBOX).is_file():
        yield root / BILLING_OUTBOX
    yield from sorted(root.glob(f"*/{BILLING_OUTBOX}"))


def _flush_one(outbox: Path, url: Optional[str], sinks: _Sinks, report: FlushReport) -> None:
    with locked(outbox) as held:
        lines = read_lines(outbox) if held else []
    delivered: set[str] = set()
    for lineno, line in enumerate(lines, 1):
        event = _event_of(line)
        if event is None:
            report.problems.append(f"{outbox}:{lineno}: not an outbox entry (left in place)")
            continue
        msg_id = str(event["event_id"])
        if msg_id in delivered:
            continue
        target = url or json.loads(line).get("url") or os.environ.get(ENV_URL, "").strip()
        try:
            if not target:
                raise BillingError(f"no webhook URL stored with it and {ENV_URL} is not set")
            sinks.get(target).deliver(event)
        except BillingError as exc:
            report.failed += 1
            report.problems.append(f"{outbox.parent.name}: event {msg_id}: {exc.message}")
            continue
        delivered.add(msg_id)
        report.delivered += 1
    if delivered:
        with locked(outbox) as held:
            if held:
                replace_lines(outbox, [ln for ln in read_lines(outbox) if _id_of(ln) not in delivered])


def _event_of(line: str) -> Optional[Dict[str, Any]]:
    try:
        entry = json.loads(line)
    except json.JSONDecodeError:
        return None
    event = entry.get("event") if isinstance(entry, dict) else None
    return event if isinstance(event, dict) and event.get("event_id") else None


def _id_of(line: str) -> Optional[str]:
    event = _event_of(line)
    return str(event["event_id"]) if event else None
