"""Security suite, billing: the outbox is no signing oracle and no way to aim requests elsewhere;
secrets in webhook URLs never reach logs, files or output; one bad outbox never blocks the others.

Real HTTP on 127.0.0.1, the real sink, the real ``verifily billing flush`` command.
"""

from __future__ import annotations

import json
import logging
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any, Dict, Iterator, List

import pytest
from typer.testing import CliRunner

from verifily_adapters.billing_sinks.outbox import flush_outbox
from verifily_adapters.billing_sinks.webhook import WebhookBillingSink
from verifily_cli.app import app
from verifily_core.domain.runs import BILLING_OUTBOX
from verifily_core.domain.urls import redact_url
from verifily_core.domain.usage import UsageRecord
from verifily_core.errors import BillingError
from verifily_core.services.billing.tracker import BillingTracker

SECRET = "outbox-test-secret"
PASSWORD, TOKEN = "pa55w0rd-xyz", "qtok-123456"


class Endpoint:
    """A webhook receiver that answers ``status`` to every POST and records the event ids."""

    def __init__(self, status: int = 200) -> None:
        self.status = status
        self.ids: List[str] = []
        endpoint = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # noqa: N802
                self.rfile.read(int(self.headers.get("Content-Length") or 0))
                endpoint.ids.append(self.headers["webhook-id"])
                self.send_response(endpoint.status)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server.server_address[1]}/billing"

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def endpoint() -> Iterator[Endpoint]:
    e = Endpoint()
    yield e
    e.stop()


@pytest.fixture(autouse=True)
def _clean_env(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in (
        "VERIFILY_BILLING_WEBHOOK",
        "VERIFILY_BILLING_WEBHOOK_SECRET",
        "VERIFILY_BILLING_WEBHOOK_RETRY_BUDGET",
    ):
        monkeypatch.delenv(name, raising=False)


def _event(run_id: str = "run_a", gpu_hours: float = 0.5) -> Dict[str, Any]:
    return UsageRecord(
        run_id=run_id, event="train_end", timestamp="2026-02-08T14:35:00Z", gpu_hours=gpu_hours
    ).to_dict()


def _queue(run_dir: Path, event: Dict[str, Any], secret: str = SECRET) -> None:
    """Put an event in the outbox the way a run does: the sink fails to deliver (a closed port)."""
    run_dir.mkdir(parents=True, exist_ok=True)
    sink = WebhookBillingSink("http://127.0.0.1:9/billing", secret=secret, run_dir=run_dir, retry_budget=0.0)
    with pytest.raises(BillingError, match="kept in"):
        sink.emit(event)


def _lines(run_dir: Path) -> List[Dict[str, Any]]:
    return [json.loads(line) for line in (run_dir / BILLING_OUTBOX).read_text().splitlines() if line.strip()]


def _write_lines(run_dir: Path, entries: List[Dict[str, Any]]) -> None:
    (run_dir / BILLING_OUTBOX).write_text("".join(json.dumps(e) + "\n" for e in entries))


def test_a_forged_entry_is_reported_and_not_sent(endpoint: Endpoint, tmp_path: Path) -> None:
    genuine = _event()
    _queue(tmp_path / "run_a", genuine)
    forged = _event("run_forged", gpu_hours=-1000.0)
    with (tmp_path / "run_a" / BILLING_OUTBOX).open("a") as fh:
        fh.write(json.dumps({"url": endpoint.url, "event": forged}) + "\n")
        fh.write(json.dumps({"url": endpoint.url, "event": forged, "mac": "v1,AAAA"}) + "\n")
    report = flush_outbox(tmp_path, url=endpoint.url, secret=SECRET)
    assert endpoint.ids == [genuine["event_id"]]
    assert report.delivered == 1 and not report.ok
    assert any(":2: unsigned entry" in p for p in report.problems)
    assert any(":3: entry does not match its mac: forged or altered" in p for p in report.problems)
    assert [e["event"]["event_id"] for e in _lines(tmp_path / "run_a")] == [forged["event_id"]] * 2


def test_an_altered_entry_is_reported_and_not_sent(endpoint: Endpoint, tmp_path: Path) -> None:
    _queue(tmp_path / "run_a", _event())
    [entry] = _lines(tmp_path / "run_a")
    entry["event"]["gpu_hours"] = 0.0001  # billed less than used
    _write_lines(tmp_path / "run_a", [entry])
    report = flush_outbox(tmp_path, url=endpoint.url, secret=SECRET)
    assert endpoint.ids == [] and report.delivered == 0
    assert any("forged or altered" in p for p in report.problems)


def test_a_url_stored_in_the_outbox_is_never_used(endpoint: Endpoint, tmp_path: Path) -> None:
    elsewhere = Endpoint()
    try:
        _queue(tmp_path / "run_a", _event())
        [entry] = _lines(tmp_path / "run_a")
        assert entry["url"] == "http://127.0.0.1:9/billing"
        entry["url"] = elsewhere.url  # e.g. an internal host someone wants requests aimed at
        _write_lines(tmp_path / "run_a", [entry])
        report = flush_outbox(tmp_path, url=endpoint.url, secret=SECRET)
        assert elsewhere.ids == []
        assert endpoint.ids == [] and any("forged or altered" in p for p in report.problems)
        # an entry that kept its mac goes to the endpoint configured now, never to its stored url
        _queue(tmp_path / "run_b", _event("run_b"))
        report = flush_outbox(tmp_path / "run_b", url=endpoint.url, secret=SECRET)
        assert report.delivered == 1 and elsewhere.ids == [] and len(endpoint.ids) == 1
    finally:
        elsewhere.stop()


def test_signed_entries_need_the_secret_at_flush(endpoint: Endpoint, tmp_path: Path) -> None:
    _queue(tmp_path / "run_a", _event())
    report = flush_outbox(tmp_path, url=endpoint.url)
    assert endpoint.ids == [] and any(
        "VERIFILY_BILLING_WEBHOOK_SECRET is not set" in p for p in report.problems
    )


def test_credentials_in_the_webhook_url_never_reach_logs_outbox_or_flush_output(
    tmp_path: Path, caplog: pytest.LogCaptureFixture, monkeypatch: pytest.MonkeyPatch
) -> None:
    refusing = Endpoint(status=400)
    try:
        port = refusing.server.server_address[1]
        url = f"http://alice:{PASSWORD}@127.0.0.1:{port}/billing?token={TOKEN}"
        run_dir = tmp_path / "run_a"
        run_dir.mkdir()
        caplog.set_level(logging.DEBUG)
        sink = WebhookBillingSink(url, secret=SECRET, run_dir=run_dir, retry_budget=0.0)
        tracker = BillingTracker("run_a", None, sinks=[sink])
        tracker.start()
        tracker.end(tokens_processed=1, train_rows=1)
        tracker.close()
        assert len(refusing.ids) == 2  # the requests went out with the real URL
        outbox = (run_dir / BILLING_OUTBOX).read_text()
        assert f"http://***@127.0.0.1:{port}/billing?***" in outbox
        monkeypatch.setenv("VERIFILY_BILLING_WEBHOOK", url)
        monkeypatch.setenv("VERIFILY_BILLING_WEBHOOK_SECRET", SECRET)
        monkeypatch.setenv("VERIFILY_BILLING_WEBHOOK_RETRY_BUDGET", "0")
        result = CliRunner().invoke(app, ["billing", "flush", "--runs-dir", str(tmp_path)])
        assert result.exit_code == 1 and "HTTP 400" in result.output
        logged = "\n".join(r.getMessage() for r in caplog.records)
        assert "HTTP 400" in logged and "127.0.0.1" in logged
        for text in (outbox, logged, result.output):
            assert PASSWORD not in text and TOKEN not in text
        with pytest.raises(BillingError) as bad:
            WebhookBillingSink(f"ftp://alice:{PASSWORD}@host/?token={TOKEN}")
        assert PASSWORD not in str(bad.value) and TOKEN not in str(bad.value)
    finally:
        refusing.stop()


@pytest.mark.parametrize(
    ("url", "shown"),
    [
        ("https://u:p@host:8443/path?token=t#frag", "https://***@host:8443/path?***#***"),
        ("https://host/hook", "https://host/hook"),
        ("http://[::1", "<unparseable URL>"),
    ],
)
def test_redact_url(url: str, shown: str) -> None:
    assert redact_url(url) == shown


def test_bad_outboxes_are_reported_and_the_others_still_delivered(
    endpoint: Endpoint, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    _queue(tmp_path / "run_a_good", _event("run_a_good"))
    (tmp_path / "run_b_folder" / BILLING_OUTBOX).mkdir(parents=True)
    (tmp_path / "run_c_binary").mkdir()
    (tmp_path / "run_c_binary" / BILLING_OUTBOX).write_bytes(b"\xff\xfe\x00garbage\n")
    _queue(tmp_path / "run_d_url", _event("run_d_url"))
    [entry] = _lines(tmp_path / "run_d_url")
    _write_lines(tmp_path / "run_d_url", [{**entry, "url": ["not", "a", "string"]}])
    monkeypatch.setenv("VERIFILY_BILLING_WEBHOOK", endpoint.url)
    monkeypatch.setenv("VERIFILY_BILLING_WEBHOOK_SECRET", SECRET)
    result = CliRunner().invoke(app, ["billing", "flush", "--runs-dir", str(tmp_path)])
    output = result.output.replace("\n", " ")
    assert result.exit_code == 2 and "Internal error" not in output and "Traceback" not in output
    assert "Delivered 1 event(s)" in output and len(endpoint.ids) == 1
    assert "run_b_folder" in output and "not a regular file" in output
    assert "run_c_binary" in output and "not UTF-8 text" in output
    assert "run_d_url" in output and "url and mac must be strings" in output
    assert (tmp_path / "run_c_binary" / BILLING_OUTBOX).read_bytes() == b"\xff\xfe\x00garbage\n"


def test_flush_without_a_configured_endpoint_is_a_clear_error(tmp_path: Path) -> None:
    _queue(tmp_path / "run_a", _event())
    result = CliRunner().invoke(app, ["billing", "flush", "--runs-dir", str(tmp_path)])
    assert result.exit_code == 2 and "VERIFILY_BILLING_WEBHOOK is not set" in result.output
