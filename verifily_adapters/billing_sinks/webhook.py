"""``VERIFILY_BILLING_WEBHOOK=url``: POST every billing event, signed per Standard Webhooks 1.0.

Each request carries ``webhook-id`` (the event's ``event_id``, the same on every retry and on a
later ``billing flush``: the receiver's idempotency key), ``webhook-timestamp`` (unix seconds of
this attempt) and, when ``VERIFILY_BILLING_WEBHOOK_SECRET`` is set, ``webhook-signature``:
``v1,<base64 HMAC-SHA256 of "id.timestamp.body">``. A ``whsec_`` secret is base64-decoded as the
standard says; any other string is used as its UTF-8 bytes.

Why a budget rather than a retry count: the run being billed must never wait on the endpoint for
long. Connection errors, timeouts, 408, 429 and 5xx are retried with exponential backoff and
jitter (or after ``Retry-After``) until the sink's total retry budget is spent; after that an event
gets one attempt only. Other 4xx are never retried. Whatever was not delivered is appended to the
run's ``billing_outbox.jsonl`` for ``verifily billing flush``.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import json
import logging
import os
import random
import time
from email.utils import parsedate_to_datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable, Dict, Mapping, NamedTuple, Optional
from urllib.parse import urlsplit

from verifily_adapters.billing_sinks.appendlog import append_jsonl
from verifily_core.domain.runs import BILLING_OUTBOX, iso, utc_now
from verifily_core.domain.urls import redact_url
from verifily_core.errors import BillingError
from verifily_core.ports.billing_sink import BillingSink

if TYPE_CHECKING:
    import httpx

ENV_URL = "VERIFILY_BILLING_WEBHOOK"
ENV_SECRET = "VERIFILY_BILLING_WEBHOOK_SECRET"
ENV_BUDGET = "VERIFILY_BILLING_WEBHOOK_RETRY_BUDGET"
DEFAULT_TIMEOUT = 10.0
DEFAULT_RETRY_BUDGET = 30.0
_MIN_ATTEMPT_SECONDS = 0.25


def signing_key(secret: str) -> bytes:
    """The HMAC key of a secret: ``whsec_<base64>`` decoded, anything else as UTF-8 bytes."""
    if secret.startswith("whsec_"):
        try:
            return base64.b64decode(secret[len("whsec_") :], validate=True)
        except (binascii.Error, ValueError):
            raise BillingError(
                f"{ENV_SECRET} starts with whsec_ but the rest is not valid base64",
                hint="Use the secret exactly as your webhook provider shows it, or drop the whsec_ prefix.",
            ) from None
    return secret.encode("utf-8")


def outbox_mac(secret: str, entry: Mapping[str, Any]) -> str:
    """The ``mac`` of an outbox entry: HMAC-SHA256 over the entry (without ``mac``) as canonical JSON.

    It binds the entry to the tool that holds the webhook secret: ``billing flush`` re-signs and
    sends only entries whose mac matches, so a line written or edited by anyone else is refused
    instead of being signed and delivered (the flush would otherwise be a signing oracle). The key
    is derived from the secret with a label, so a mac is never also a valid webhook signature.
    """
    key = hmac.new(signing_key(secret), b"verifily billing outbox v1", hashlib.sha256).digest()
    body = json.dumps({k: v for k, v in entry.items() if k != "mac"}, sort_keys=True, separators=(",", ":"))
    return "v1," + base64.b64encode(hmac.new(key, body.encode("utf-8"), hashlib.sha256).digest()).decode()


def sign(key: bytes, msg_id: str, timestamp: str, body: str) -> str:
    """The ``webhook-signature`` header value: ``v1,<base64 HMAC-SHA256 of id.timestamp.body>``."""
    digest = hmac.new(key, f"{msg_id}.{timestamp}.{body}".encode(), hashlib.sha256).digest()
    return "v1," + base64.b64encode(digest).decode("ascii")


def parse_retry_after(value: Optional[str], now: Optional[float] = None) -> Optional[float]:
    """Seconds to wait from a ``Retry-After`` header (delta-seconds or HTTP-date); None if absent."""
    if not value:
        return None
    value = value.strip()
    if value.isdigit():
        return float(value)
    try:
        when = parsedate_to_datetime(value).timestamp()
    except (TypeError, ValueError, IndexError):
        return None
    return max(0.0, when - (time.time() if now is None else now))


class _Attempt(NamedTuple):
    delivered: bool
    retryable: bool
    reason: str
    retry_after: Optional[float]


class WebhookBillingSink(BillingSink):
    """POSTs events to ``url``; undelivered ones go to ``run_dir/billing_outbox.jsonl``."""

    PLUGIN_NAME = "webhook"

    def __init__(
        self,
        url: str,
        *,
        secret: Optional[str] = None,
        run_dir: Optional[Path] = None,
        timeout: float = DEFAULT_TIMEOUT,
        retry_budget: float = DEFAULT_RETRY_BUDGET,
        backoff_base: float = 0.5,
        backoff_max: float = 8.0,
        sleep: Callable[[float], None] = time.sleep,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        parts = urlsplit(url)
        if parts.scheme not in ("http", "https") or not parts.netloc:
            raise BillingError(
                f"{ENV_URL} is not an http(s) URL: {redact_url(url)!r}",
                hint="Use the full address, e.g. https://your-api.com/billing/events.",
            )
        self.url = url
        self.shown_url = redact_url(url)  # what messages, logs and the outbox may show
        self._secret = secret
        self.run_dir = Path(run_dir) if run_dir is not None else None
        self.timeout = timeout
        self.backoff_base = backoff_base
        self.backoff_max = backoff_max
        self._key = signing_key(secret) if secret else None
        self._budget_left = retry_budget
        self._sleep = sleep
        self._clock = clock
        self._http: Optional[httpx.Client] = None

    @classmethod
    def from_environment(cls, run_dir: Optional[Path]) -> Optional[WebhookBillingSink]:
        url = os.environ.get(ENV_URL, "").strip()
        if not url:
            return None
        return cls(
            url,
            secret=os.environ.get(ENV_SECRET) or None,
            run_dir=run_dir,
            retry_budget=retry_budget_from_environment(),
        )

    # ------------------------------------------------------------------ the port
    def emit(self, event: Mapping[str, Any]) -> None:
        """Deliver, or keep the event in the outbox and raise ``BillingError`` saying where."""
        try:
            self.deliver(event)
        except BillingError as exc:
            raise self._keep(event, exc) from exc

    def close(self) -> None:
        if self._http is not None:
            self._http.close()
            self._http = None

    # ------------------------------------------------------------------ delivery
    def deliver(self, event: Mapping[str, Any]) -> None:
        """POST one event with retries inside the remaining budget; ``BillingError`` if not accepted."""
        msg_id = str(event.get("event_id") or "")
        if not msg_id:
            raise BillingError("A billing event has no event_id; receivers could not deduplicate it")
        body = json.dumps(dict(event), ensure_ascii=False, separators=(",", ":"))
        deadline: Optional[float] = None
        retries_began = 0.0
        attempt = 0
        try:
            while True:
                attempt += 1
                timeout = self.timeout if deadline is None else min(self.timeout, deadline - self._clock())
                result = self._post(msg_id, body, timeout)
                if result.delivered:
                    return
                if not result.retryable:
                    raise BillingError(
                        f"Webhook {self.shown_url} refused event {msg_id}: {result.reason} (not retried)"
                    )
                if deadline is None:
                    retries_began = self._clock()
                    deadline = retries_began + max(self._budget_left, 0.0)
                delay = result.retry_after if result.retry_after is not None else self._backoff(attempt)
                if self._clock() + delay + _MIN_ATTEMPT_SECONDS > deadline:
                    raise BillingError(
                        f"Webhook {self.shown_url} did not accept event {msg_id} after {attempt} "
                        f"attempt(s): {result.reason}"
                    )
                self._sleep(delay)
        finally:
            if deadline is not None:
                self._budget_left -= self._clock() - retries_began

    def _post(self, msg_id: str, body: str, timeout: float) -> _Attempt:
        import httpx

        timestamp = str(int(time.time()))
        headers = {"content-type": "application/json", "webhook-id": msg_id, "webhook-timestamp": timestamp}
        if self._key is not None:
            headers["webhook-signature"] = sign(self._key, msg_id, timestamp, body)
        try:
            response = self._client().post(
                self.url, content=body.encode("utf-8"), headers=headers, timeout=timeout
            )
        except httpx.TimeoutException:
            return _Attempt(False, True, f"no answer within {timeout:.1f} s", None)
        except httpx.TransportError as exc:
            return _Attempt(False, True, f"connection failed ({str(exc) or type(exc).__name__})", None)
        status = response.status_code
        if 200 <= status < 300:
            return _Attempt(True, False, f"HTTP {status}", None)
        retryable = status in (408, 429) or status >= 500
        retry_after = parse_retry_after(response.headers.get("retry-after"))
        return _Attempt(False, retryable, f"HTTP {status}", retry_after)

    def _backoff(self, attempt: int) -> float:
        """Exponential backoff with equal jitter: half fixed, half random, so retries spread out."""
        ceiling = min(self.backoff_max, self.backoff_base * 2.0 ** (attempt - 1))
        return ceiling / 2 + random.uniform(0, ceiling / 2)

    def _client(self) -> httpx.Client:
        if self._http is None:
            import httpx

            _quiet_request_log()
            self._http = httpx.Client(follow_redirects=False)
        return self._http

    def _keep(self, event: Mapping[str, Any], exc: BillingError) -> BillingError:
        """Append the event to the outbox; the error to raise says where it went (or that it is lost)."""
        if self.run_dir is None:
            return BillingError(
                f"{exc.message}; no run folder to keep it in, event lost: "
                f"{json.dumps(dict(event), ensure_ascii=False)}"
            )
        outbox = self.run_dir / BILLING_OUTBOX
        entry: Dict[str, Any] = {
            "url": self.shown_url,
            "queued_at": iso(utc_now()),
            "error": exc.message,
            "event": dict(event),
        }
        if self._secret:
            entry["mac"] = outbox_mac(self._secret, entry)
        try:
            append_jsonl(outbox, [entry])
        except OSError as write_exc:
            return BillingError(
                f"{exc.message}; cannot write {outbox} ({write_exc}), event lost: "
                f"{json.dumps(dict(event), ensure_ascii=False)}"
            )
        return BillingError(
            f"{exc.message}; kept in {outbox}", hint="Run `verifily billing flush` once the endpoint is up."
        )


class _RedactUrls(logging.Filter):
    """httpx logs every request with its full URL (at INFO): mask credentials and query there too."""

    def filter(self, record: logging.LogRecord) -> bool:
        if isinstance(record.args, tuple):
            record.args = tuple(
                redact_url(str(a)) if str(a).startswith(("http://", "https://")) else a for a in record.args
            )
        return True


def _quiet_request_log() -> None:
    logger = logging.getLogger("httpx")
    if not any(isinstance(f, _RedactUrls) for f in logger.filters):
        logger.addFilter(_RedactUrls())


def retry_budget_from_environment() -> float:
    """Seconds of retries a sink may spend in total (``VERIFILY_BILLING_WEBHOOK_RETRY_BUDGET``)."""
    raw = os.environ.get(ENV_BUDGET, "").strip()
    if not raw:
        return DEFAULT_RETRY_BUDGET
    try:
        value = float(raw)
    except ValueError:
        value = -1.0
    if not value >= 0:
        raise BillingError(f"{ENV_BUDGET} must be a number of seconds >= 0, got {raw!r}")
    return value
