"""The receiver example of docs/billing.md runs, and accepts exactly what our webhook sink sends."""

from __future__ import annotations

import base64
import re
import threading
import time
from http.server import ThreadingHTTPServer
from pathlib import Path
from typing import Any, Dict, Iterator, List

import pytest

from verifily_adapters.billing_sinks.webhook import WebhookBillingSink, sign
from verifily_core.domain.usage import UsageRecord
from verifily_core.errors import BillingError

DOC = Path(__file__).resolve().parents[2] / "docs" / "billing.md"
SECRET = "whsec_" + base64.b64encode(b"billing-doc-test-secret-0123456").decode()


def receiver_example() -> str:
    """The python block right after the ``docs-test: receiver`` marker."""
    match = re.search(r"<!-- docs-test: receiver -->\s*```python\n(.*?)```", DOC.read_text(), re.S)
    assert match, f"{DOC} lost its receiver example"
    return match.group(1)


@pytest.fixture
def doc_receiver() -> Iterator[Dict[str, Any]]:
    """The example's namespace, its secret set, usage recorded, served on 127.0.0.1."""
    namespace: Dict[str, Any] = {"__name__": "billing_doc_example"}
    exec(compile(receiver_example(), str(DOC), "exec"), namespace)
    recorded: List[Dict[str, Any]] = []
    namespace["SECRET"] = SECRET
    namespace["record_usage"] = recorded.append
    handler = namespace["BillingReceiver"]
    handler.log_message = lambda *args: None
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    namespace["url"] = f"http://127.0.0.1:{server.server_address[1]}/"
    namespace["recorded"] = recorded
    yield namespace
    server.shutdown()
    server.server_close()


def event() -> Dict[str, Any]:
    return UsageRecord(
        run_id="run_doc",
        event="train_end",
        timestamp="2026-02-08T14:35:00Z",
        gpu_hours=0.5234,
        tokens_processed=1048576,
        train_rows=5000,
    ).to_dict()


def test_doc_receiver_accepts_our_signed_events_once_per_id(
    doc_receiver: Dict[str, Any], tmp_path: Path
) -> None:
    sink = WebhookBillingSink(doc_receiver["url"], secret=SECRET, run_dir=tmp_path, retry_budget=1.0)
    ev = event()
    sink.emit(ev)
    sink.emit(ev)  # a redelivery: same webhook-id
    assert doc_receiver["recorded"] == [ev]


def test_doc_receiver_rejects_a_wrong_secret(doc_receiver: Dict[str, Any], tmp_path: Path) -> None:
    sink = WebhookBillingSink(doc_receiver["url"], secret="not the secret", run_dir=tmp_path)
    with pytest.raises(BillingError, match="HTTP 401"):
        sink.emit(event())
    assert doc_receiver["recorded"] == []


def test_doc_verify_rejects_tampering_and_stale_timestamps(doc_receiver: Dict[str, Any]) -> None:
    verify = doc_receiver["verify_webhook"]
    body = b'{"run_id":"run_doc","event":"train_end","gpu_hours":0.5}'
    now = str(int(time.time()))
    key = base64.b64decode(SECRET[len("whsec_") :])
    headers = {
        "webhook-id": "evt_1",
        "webhook-timestamp": now,
        "webhook-signature": "v1,bogus " + sign(key, "evt_1", now, body.decode()),
    }
    assert verify(SECRET, headers, body)["gpu_hours"] == 0.5
    with pytest.raises(ValueError, match="signature"):
        verify(SECRET, headers, body.replace(b"0.5", b"0.1"))
    old = str(int(time.time()) - 3600)
    stale = dict(
        headers, **{"webhook-timestamp": old, "webhook-signature": sign(key, "evt_1", old, body.decode())}
    )
    with pytest.raises(ValueError, match="timestamp"):
        verify(SECRET, stale, body)
