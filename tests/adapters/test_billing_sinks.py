"""Billing sinks for real: a webhook receiver on 127.0.0.1, JSONL appends from two processes."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import os
import subprocess
import sys
import textwrap
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any, Callable, Dict, Iterator, List, Optional, Tuple

import pytest
from helpers.servers import free_port

from verifily_adapters.billing_sinks.appendlog import append_jsonl
from verifily_adapters.billing_sinks.jsonl import JsonlBillingSink
from verifily_adapters.billing_sinks.outbox import flush_outbox
from verifily_adapters.billing_sinks.webhook import WebhookBillingSink, parse_retry_after
from verifily_core.domain.runs import BILLING_OUTBOX
from verifily_core.domain.usage import UsageRecord
from verifily_core.errors import BillingError
from verifily_core.services.billing.tracker import BillingTracker
from verifily_train.billing import BillingTracker as FacadeBillingTracker

Reply = Tuple[int, Dict[str, str]]


class Receiver:
    """A webhook endpoint that records every POST and answers from a script (then 200)."""

    def __init__(self, port: int = 0) -> None:
        self.requests: List[Dict[str, Any]] = []
        self.script: List[Reply] = []
        self.delay = 0.0
        self.on_post: Optional[Callable[[], None]] = None
        self._lock = threading.Lock()
        self.server = ThreadingHTTPServer(("127.0.0.1", port), self._handler())
        self.server.daemon_threads = True
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server.server_address[1]}/billing"

    def accepted(self) -> List[str]:
        return [r["headers"]["webhook-id"] for r in self.requests if r["status"] == 200]

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()

    def _handler(self) -> type:
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def do_POST(self) -> None:  # noqa: N802
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0)).decode()
                with receiver._lock:
                    status, extra = receiver.script.pop(0) if receiver.script else (200, {})
                    receiver.requests.append(
                        {
                            "time": time.monotonic(),
                            "status": status,
                            "body": body,
                            "headers": {k.lower(): v for k, v in self.headers.items()},
                        }
                    )
                if receiver.on_post:
                    receiver.on_post()
                time.sleep(receiver.delay)
                try:
                    self.send_response(status)
                    for name, value in extra.items():
                        self.send_header(name, value)
                    self.send_header("Content-Length", "0")
                    self.end_headers()
                except (BrokenPipeError, ConnectionResetError):
                    pass  # the client gave up (the slow-server test)

            def log_message(self, *args: Any) -> None:
                pass

        return Handler


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    rec = Receiver()
    yield rec
    rec.stop()


@pytest.fixture(autouse=True)
def _clean_env(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in (
        "VERIFILY_BILLING_WEBHOOK",
        "VERIFILY_BILLING_WEBHOOK_SECRET",
        "VERIFILY_BILLING_WEBHOOK_RETRY_BUDGET",
        "VERIFILY_BILLING_LOG",
    ):
        monkeypatch.delenv(name, raising=False)


def sink(url: str, run_dir: Optional[Path], **options: Any) -> WebhookBillingSink:
    settings = {"timeout": 5.0, "retry_budget": 5.0, "backoff_base": 0.01, "backoff_max": 0.05, **options}
    return WebhookBillingSink(url, run_dir=run_dir, **settings)


def event(name: str = "train_end", run_id: str = "run_test") -> Dict[str, Any]:
    return UsageRecord(
        run_id=run_id,
        event=name,
        timestamp="2026-02-08T14:35:00Z",
        gpu_hours=0.5,
        tokens_processed=1024,
        train_rows=5,
        storage_bytes=2048,
    ).to_dict()


def outbox_ids(run_dir: Path) -> List[str]:
    path = run_dir / BILLING_OUTBOX
    if not path.exists():
        return []
    return [json.loads(line)["event"]["event_id"] for line in path.read_text().splitlines() if line.strip()]


def signature_is_valid(secret: str, headers: Dict[str, str], body: str) -> bool:
    """Standard Webhooks 1.0, checked here independently of the sink's own signing code."""
    key = base64.b64decode(secret[len("whsec_") :]) if secret.startswith("whsec_") else secret.encode()
    signed = f"{headers['webhook-id']}.{headers['webhook-timestamp']}.{body}".encode()
    expected = base64.b64encode(hmac.new(key, signed, hashlib.sha256).digest()).decode()
    given = [s.split(",", 1)[1] for s in headers["webhook-signature"].split() if s.startswith("v1,")]
    return any(hmac.compare_digest(expected, g) for g in given)


# ---------------------------------------------------------------------- webhook


@pytest.mark.parametrize("secret", ["whsec_" + base64.b64encode(os.urandom(24)).decode(), "plain secret é"])
def test_events_arrive_with_standard_webhook_headers_and_valid_signatures(
    receiver: Receiver, tmp_path: Path, secret: str
) -> None:
    events = [event("train_start"), event("train_end")]
    webhook = sink(receiver.url, tmp_path, secret=secret)
    for ev in events:
        webhook.emit(ev)
    webhook.close()

    assert [r["headers"]["webhook-id"] for r in receiver.requests] == [e["event_id"] for e in events]
    for request, ev in zip(receiver.requests, events):
        assert signature_is_valid(secret, request["headers"], request["body"])
        assert abs(int(request["headers"]["webhook-timestamp"]) - time.time()) < 300
        assert json.loads(request["body"]) == ev
    tampered = dict(receiver.requests[0]["headers"], **{"webhook-id": "someone-else"})
    assert not signature_is_valid(secret, tampered, receiver.requests[0]["body"])


def test_without_a_secret_no_signature_is_sent(receiver: Receiver, tmp_path: Path) -> None:
    sink(receiver.url, tmp_path).emit(event())
    assert "webhook-signature" not in receiver.requests[0]["headers"]
    assert receiver.requests[0]["headers"]["content-type"] == "application/json"


def test_503_twice_then_200_delivers_each_event_id_exactly_once(receiver: Receiver, tmp_path: Path) -> None:
    receiver.script = [(503, {}), (503, {})]
    events = [event("train_start"), event("train_end")]
    webhook = sink(receiver.url, tmp_path)
    for ev in events:
        webhook.emit(ev)

    assert len(receiver.requests) == 4
    assert [r["headers"]["webhook-id"] for r in receiver.requests[:3]] == [events[0]["event_id"]] * 3
    assert sorted(receiver.accepted()) == sorted(e["event_id"] for e in events)
    assert not (tmp_path / BILLING_OUTBOX).exists()


@pytest.mark.parametrize("status", [408, 429, 500, 502])
def test_retryable_statuses_are_retried(receiver: Receiver, tmp_path: Path, status: int) -> None:
    receiver.script = [(status, {})]
    sink(receiver.url, tmp_path).emit(event())
    assert [r["status"] for r in receiver.requests] == [status, 200]


@pytest.mark.parametrize("status", [400, 401, 404, 422])
def test_other_4xx_are_never_retried_and_the_event_is_kept(
    receiver: Receiver, tmp_path: Path, status: int
) -> None:
    receiver.script = [(status, {})] * 3
    ev = event()
    with pytest.raises(BillingError, match=f"HTTP {status}"):
        sink(receiver.url, tmp_path).emit(ev)
    assert len(receiver.requests) == 1
    assert outbox_ids(tmp_path) == [ev["event_id"]]


def test_retry_after_is_honoured(receiver: Receiver, tmp_path: Path) -> None:
    receiver.script = [(429, {"Retry-After": "1"})]
    sink(receiver.url, tmp_path, backoff_base=0.001, backoff_max=0.001).emit(event())
    first, second = receiver.requests
    assert second["time"] - first["time"] >= 0.9
    assert second["headers"]["webhook-id"] == first["headers"]["webhook-id"]


def test_endpoint_down_for_the_whole_run_keeps_every_event_then_flush_delivers(tmp_path: Path) -> None:
    port = free_port()
    run_dir = tmp_path / "run_down"
    run_dir.mkdir()
    webhook = sink(f"http://127.0.0.1:{port}/billing", run_dir, retry_budget=1.0)
    tracker = BillingTracker("run_down", None, sinks=[webhook])
    began = time.monotonic()
    tracker.start()
    tracker.end(tokens_processed=10, train_rows=2)
    tracker.close()
    assert time.monotonic() - began < 8  # retry budget 1 s; the default would be 30 s
    kept = outbox_ids(run_dir)
    assert kept == [r.event_id for r in tracker.records]

    rec = Receiver(port)
    try:
        report = flush_outbox(tmp_path, url=rec.url, retry_budget=1.0)
    finally:
        rec.stop()
    assert (report.delivered, report.failed, report.ok) == (2, 0, True)
    assert rec.accepted() == kept
    assert not (run_dir / BILLING_OUTBOX).exists()
    assert flush_outbox(tmp_path, url=rec.url).delivered == 0


def test_a_slow_endpoint_does_not_stall_the_run(receiver: Receiver, tmp_path: Path) -> None:
    receiver.delay = 4.0
    ev = event()
    began = time.monotonic()
    with pytest.raises(BillingError, match="kept in"):
        sink(receiver.url, tmp_path, timeout=0.3, retry_budget=0.5).emit(ev)
    assert time.monotonic() - began < receiver.delay
    assert outbox_ids(tmp_path) == [ev["event_id"]]


def test_flush_keeps_what_still_fails_and_reports_why(receiver: Receiver, tmp_path: Path) -> None:
    run_dir = tmp_path / "run_a"
    run_dir.mkdir()
    ev = event()
    append_jsonl(run_dir / BILLING_OUTBOX, [{"url": receiver.url, "event": ev}])
    with (run_dir / BILLING_OUTBOX).open("a") as fh:
        fh.write("{not json\n")
    receiver.script = [(400, {})]

    report = flush_outbox(tmp_path, url=receiver.url, retry_budget=0.5)
    assert (report.delivered, report.failed, report.ok) == (0, 1, False)
    assert any("HTTP 400" in p for p in report.problems) and any(":2:" in p for p in report.problems)
    kept = (run_dir / BILLING_OUTBOX).read_text().splitlines()
    assert json.loads(kept[0])["event"]["event_id"] == ev["event_id"] and kept[1] == "{not json"


def test_flush_keeps_events_appended_while_it_delivers(receiver: Receiver, tmp_path: Path) -> None:
    old, new = event("train_start"), event("train_end")
    outbox = tmp_path / BILLING_OUTBOX
    append_jsonl(outbox, [{"url": receiver.url, "event": old}])
    receiver.on_post = lambda: append_jsonl(outbox, [{"url": receiver.url, "event": new}])

    report = flush_outbox(tmp_path, url=receiver.url)
    assert report.delivered == 1
    assert outbox_ids(tmp_path) == [new["event_id"]]


def test_from_environment_reads_url_secret_and_budget(
    receiver: Receiver, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    assert WebhookBillingSink.from_environment(tmp_path) is None
    secret = "whsec_" + base64.b64encode(b"k" * 32).decode()
    monkeypatch.setenv("VERIFILY_BILLING_WEBHOOK", receiver.url)
    monkeypatch.setenv("VERIFILY_BILLING_WEBHOOK_SECRET", secret)
    monkeypatch.setenv("VERIFILY_BILLING_WEBHOOK_RETRY_BUDGET", "2.5")
    configured = WebhookBillingSink.from_environment(tmp_path)
    assert configured is not None and configured.run_dir == tmp_path
    configured.emit(event())
    assert signature_is_valid(secret, receiver.requests[0]["headers"], receiver.requests[0]["body"])
    monkeypatch.setenv("VERIFILY_BILLING_WEBHOOK_RETRY_BUDGET", "soon")
    with pytest.raises(BillingError, match="RETRY_BUDGET"):
        WebhookBillingSink.from_environment(tmp_path)


def test_retry_after_accepts_seconds_and_http_dates() -> None:
    assert parse_retry_after("7") == 7.0
    assert parse_retry_after("Wed, 21 Oct 2015 07:28:00 GMT", now=1445412480.0 - 30) == pytest.approx(30.0)
    assert parse_retry_after("Wed, 21 Oct 2015 07:28:00 GMT", now=1445412480.0 + 30) == 0.0
    assert parse_retry_after("whenever") is None and parse_retry_after(None) is None


@pytest.mark.parametrize(
    ("url", "secret", "message"),
    [
        ("ftp://example.invalid/hook", None, "not an http"),
        ("https://example.invalid/hook", "whsec_not base64!", "not valid base64"),
    ],
)
def test_bad_settings_are_clear_errors(url: str, secret: Optional[str], message: str) -> None:
    with pytest.raises(BillingError, match=message):
        WebhookBillingSink(url, secret=secret)


# ---------------------------------------------------------------------- JSONL

_APPENDER = textwrap.dedent("""
    import sys
    from pathlib import Path
    from verifily_adapters.billing_sinks.jsonl import JsonlBillingSink
    sink = JsonlBillingSink(Path(sys.argv[1]))
    for i in range(int(sys.argv[3])):
        sink.emit({"writer": sys.argv[2], "seq": i, "padding": "x" * 6000})
""")


def test_two_processes_appending_1000_events_each_leave_2000_intact_lines(tmp_path: Path) -> None:
    log = tmp_path / "nested" / "billing.jsonl"
    procs = [subprocess.Popen([sys.executable, "-c", _APPENDER, str(log), name, "1000"]) for name in "ab"]
    assert [p.wait(timeout=300) for p in procs] == [0, 0]

    rows = [json.loads(line) for line in log.read_text().splitlines()]
    assert len(rows) == 2000
    for name in "ab":
        assert [r["seq"] for r in rows if r["writer"] == name] == list(range(1000))


def test_jsonl_sink_from_environment_and_unwritable_path(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    assert JsonlBillingSink.from_environment(None) is None
    monkeypatch.setenv("VERIFILY_BILLING_LOG", str(tmp_path / "log.jsonl"))
    configured = JsonlBillingSink.from_environment(None)
    assert configured is not None
    configured.emit(event())
    assert json.loads((tmp_path / "log.jsonl").read_text())["event"] == "train_end"
    with pytest.raises(BillingError, match="Cannot append"):
        JsonlBillingSink(tmp_path).emit(event())  # a folder, not a file


# ---------------------------------------------------------------------- the guide's Python API


def test_facade_tracker_saves_usage_summary_into_the_artifact_path(tmp_path: Path) -> None:
    folder = tmp_path / "api-run"  # its name differs from the run id, as users may choose
    seen: List[Tuple[str, float]] = []
    tracker = FacadeBillingTracker(run_id="run_api", artifact_path=str(folder))
    (folder / "weights.bin").write_bytes(b"\0" * 4096)
    tracker.add_hook(lambda record: seen.append((record.event, record.gpu_hours)))
    tracker.start(event="train_start")
    usage = tracker.end(event="train_end", tokens_processed=1000, train_rows=5)

    assert [e for e, _ in seen] == ["train_start", "train_end"]
    assert usage.storage_bytes >= 4096 and usage.tokens_processed == 1000
    summary = json.loads((folder / "usage_summary.json").read_text())
    assert summary["run_id"] == "run_api" and len(summary["events"]) == 2
