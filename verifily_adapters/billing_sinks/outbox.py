"""``verifily billing flush``: re-deliver the events the webhook sink could not deliver during runs.

Each line of a run's ``billing_outbox.jsonl`` is ``{"url", "queued_at", "error", "event", "mac"}``;
the event keeps its ``event_id``, so the receiver sees the same ``webhook-id`` it may already have
half-processed and can deduplicate. The stored ``url`` is redacted and informative only: events go
to the endpoint configured *now* (``VERIFILY_BILLING_WEBHOOK``), never to one read from a file, so
a run folder cannot aim requests at another host. With a secret, ``mac`` binds the entry to the
tool that wrote it (see ``webhook.outbox_mac``): flush signs and sends only entries whose mac
matches, so it is no signing oracle for lines someone else wrote. The secret is never stored.

Why a bad line or an unreadable outbox is reported and skipped, never fatal: one damaged run folder
must not stop the billing of every other run.

Why the outbox is read, then delivered, then rewritten in two separate locked steps: delivery may
take the whole retry budget, and a run still in progress must be able to append to its outbox
meanwhile. The rewrite removes only the ids that were delivered, from the file as it is by then.
"""

from __future__ import annotations

import hmac
import json
import os
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Dict, Iterator, List, Optional, Tuple, Union

from verifily_adapters.billing_sinks.appendlog import locked, read_raw_lines, replace_raw_lines
from verifily_adapters.billing_sinks.webhook import (
    DEFAULT_TIMEOUT,
    ENV_SECRET,
    ENV_URL,
    WebhookBillingSink,
    outbox_mac,
    retry_budget_from_environment,
)
from verifily_core.domain.runs import BILLING_OUTBOX
from verifily_core.errors import BillingError


@dataclass
class FlushReport:
    """What a flush did: events delivered, events still waiting, and why each one waits.

    ``failed``: events the endpoint did not take (try again later). ``rejected``: lines and outboxes
    that will never be sent as they are (not an entry, forged or altered, unreadable): a person
    must look at them.
    """

    outboxes: int = 0
    delivered: int = 0
    failed: int = 0
    rejected: int = 0
    problems: List[str] = field(default_factory=list)

    def reject(self, problem: str) -> None:
        self.rejected += 1
        self.problems.append(problem)

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

    Events go to ``url`` or, by default, to ``VERIFILY_BILLING_WEBHOOK`` as set now: never to a URL
    read from an outbox. Delivered events are removed from their outbox (the file is removed once
    empty); the others stay, and the report says why. A bad line, a forged entry or an unreadable
    outbox is reported and skipped; the rest is still delivered. Raises ``BillingError`` only when
    ``runs_dir`` is not a folder or no webhook URL is configured.
    """
    root = Path(runs_dir)
    if not root.is_dir():
        raise BillingError(
            f"No runs folder at {root}", hint="Pass the folder that holds your runs: --runs-dir runs/"
        )
    target = (url or os.environ.get(ENV_URL, "")).strip()
    if not target:
        raise BillingError(
            f"{ENV_URL} is not set: there is no endpoint to deliver the outbox to.",
            hint=f"Set {ENV_URL} (and {ENV_SECRET} if the events were signed) to the endpoint now in use.",
        )
    secret = secret if secret is not None else (os.environ.get(ENV_SECRET) or None)
    sink = WebhookBillingSink(
        target,
        secret=secret,
        timeout=timeout,
        retry_budget=retry_budget if retry_budget is not None else retry_budget_from_environment(),
    )
    report = FlushReport()
    try:
        for outbox in _outboxes(root, report):
            report.outboxes += 1
            _flush_one(outbox, sink, secret, report)
    finally:
        sink.close()
    return report


def _outboxes(root: Path, report: FlushReport) -> Iterator[Path]:
    """Every ``billing_outbox.jsonl`` under ``root``; one that is not a regular file is reported."""
    for path in [root / BILLING_OUTBOX, *sorted(root.glob(f"*/{BILLING_OUTBOX}"))]:
        if path.is_symlink() or (path.exists() and not path.is_file()):
            report.reject(f"{path}: not a regular file (skipped)")
        elif path.is_file():
            yield path


def _flush_one(outbox: Path, sink: WebhookBillingSink, secret: Optional[str], report: FlushReport) -> None:
    try:
        with locked(outbox) as held:
            lines = read_raw_lines(outbox) if held else []
    except OSError as exc:
        report.reject(f"{outbox}: cannot read it ({exc.strerror or exc}); skipped")
        return
    delivered: set[str] = set()
    for lineno, raw in enumerate(lines, 1):
        event, problem = _checked_event(raw, secret)
        if event is None:
            report.reject(f"{outbox}:{lineno}: {problem} (left in place)")
            continue
        msg_id = str(event["event_id"])
        if msg_id in delivered:
            continue
        try:
            sink.deliver(event)
        except BillingError as exc:
            report.failed += 1
            report.problems.append(f"{outbox.parent.name}: event {msg_id}: {exc.message}")
            continue
        delivered.add(msg_id)
        report.delivered += 1
    if delivered:
        with locked(outbox) as held:
            if held:
                kept = [ln for ln in read_raw_lines(outbox) if _id_of(ln) not in delivered]
                replace_raw_lines(outbox, kept)


def _checked_event(raw: bytes, secret: Optional[str]) -> Tuple[Optional[Dict[str, Any]], str]:
    """The event of an outbox line that this tool wrote, else None and why it is not sent."""
    try:
        entry = json.loads(raw.decode("utf-8"))
    except UnicodeDecodeError:
        return None, "not UTF-8 text"
    except json.JSONDecodeError:
        return None, "not an outbox entry (not JSON)"
    event = entry.get("event") if isinstance(entry, dict) else None
    if not isinstance(event, dict) or not isinstance(event.get("event_id"), str) or not event["event_id"]:
        return None, "not an outbox entry (no event with an event_id)"
    if not isinstance(entry.get("url", ""), str) or not isinstance(entry.get("mac", ""), str):
        return None, "not an outbox entry (url and mac must be strings)"
    mac = entry.get("mac")
    if secret is None:
        if mac is not None:
            return None, f"signed entry, but {ENV_SECRET} is not set to check it"
        return event, ""
    if mac is None:
        return None, "unsigned entry: not written by verifily with this secret (forged?); skipped"
    if not hmac.compare_digest(mac, outbox_mac(secret, entry)):
        return None, "entry does not match its mac: forged or altered; skipped"
    return event, ""


def _id_of(raw: bytes) -> Optional[str]:
    try:
        entry = json.loads(raw.decode("utf-8"))
    except ValueError:
        return None
    event = entry.get("event") if isinstance(entry, dict) else None
    return str(event.get("event_id")) if isinstance(event, dict) and event.get("event_id") else None
