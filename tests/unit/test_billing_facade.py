"""The guide's ``BillingTracker`` from Python (issue 18): it honours VERIFILY_BILLING_LOG and
VERIFILY_BILLING_WEBHOOK as ``verifily train`` does, and detects the machine's compute."""

from __future__ import annotations

import json
import threading
from http.server import BaseHTTPRequestHandler, HTTPServer
from pathlib import Path
from typing import Any, List

import pytest

from verifily_adapters.hf_backend import environment
from verifily_train.billing import BillingTracker


def test_the_billing_log_named_by_the_environment_gets_the_events(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    log = tmp_path / "billing.jsonl"
    log.write_text('{"event": "earlier"}\n')
    monkeypatch.setenv("VERIFILY_BILLING_LOG", str(log))
    tracker = BillingTracker(run_id="run_abc", artifact_path=tmp_path / "runs" / "run_abc")
    tracker.start(event="train_start")
    tracker.end(event="train_end", tokens_processed=10, train_rows=2)
    tracker.close()
    events = [json.loads(line) for line in log.read_text().splitlines()]
    assert [e["event"] for e in events] == ["earlier", "train_start", "train_end"]
    assert events[1]["run_id"] == "run_abc"


def test_the_billing_webhook_named_by_the_environment_gets_the_events(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    received: List[Any] = []

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:  # noqa: N802 - http.server's name
            received.append(json.loads(self.rfile.read(int(self.headers["Content-Length"]))))
            self.send_response(204)
            self.end_headers()

        def log_message(self, *args: Any) -> None:
            pass

    server = HTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        monkeypatch.setenv("VERIFILY_BILLING_WEBHOOK", f"http://127.0.0.1:{server.server_port}/hook")
        tracker = BillingTracker(run_id="run_hook", artifact_path=tmp_path / "run_hook")
        tracker.start(event="train_start")
        tracker.end(event="train_end", tokens_processed=10, train_rows=2)
        tracker.close()
    finally:
        server.shutdown()
    assert [(e["event"], e["run_id"]) for e in received] == [
        ("train_start", "run_hook"),
        ("train_end", "run_hook"),
    ]


def test_the_device_is_detected_when_not_given(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(environment, "gpu_names", lambda: "NVIDIA H100 80GB HBM3, NVIDIA H100 80GB HBM3")
    monkeypatch.delenv("CUDA_VISIBLE_DEVICES", raising=False)
    clock = iter([0.0, 3600.0])
    tracker = BillingTracker(run_id="r", artifact_path=tmp_path / "r", clock=lambda: next(clock))
    tracker.start()
    record = tracker.end(tokens_processed=1, train_rows=1)
    assert record.gpu_type == "NVIDIA H100 80GB HBM3"
    assert record.gpu_hours == pytest.approx(2.0)  # two GPUs for one hour
    monkeypatch.setenv("CUDA_VISIBLE_DEVICES", "1")
    assert environment.detect_compute() == ("cuda", "NVIDIA H100 80GB HBM3", 1)
    clock = iter([0.0, 3600.0])
    explicit = BillingTracker(
        run_id="r2", artifact_path=tmp_path / "r2", device="cpu", clock=lambda: next(clock)
    )
    explicit.start()
    assert explicit.end(tokens_processed=1, train_rows=1).gpu_hours == 0.0
