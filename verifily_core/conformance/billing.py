"""The BillingSink suite: off without its environment; on, ``emit`` is quick or a BillingError."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any, Dict, Mapping

import pytest

from verifily_core.conformance.imports import HooksAreLight
from verifily_core.errors import BillingError
from verifily_core.ports import BillingSink


class BillingSinkConformance(HooksAreLight):
    """The BillingSink contract; override ``sink_class`` and ``sink_env`` (what switches it on)."""

    emit_budget_seconds = 30.0

    @pytest.fixture
    def sink_class(self) -> type:
        raise NotImplementedError("override the `sink_class` fixture to return your sink class")

    @pytest.fixture
    def sink_env(self, tmp_path: Path) -> Dict[str, str]:
        raise NotImplementedError("override `sink_env`: the environment variables that switch the sink on")

    @pytest.fixture(autouse=True)
    def _no_billing_env(self, monkeypatch: pytest.MonkeyPatch) -> None:
        import os

        for name in [n for n in os.environ if n.startswith("VERIFILY_BILLING")]:
            monkeypatch.delenv(name)

    def test_without_its_environment_there_is_no_sink(
        self, sink_class: type[BillingSink], tmp_path: Path
    ) -> None:
        assert isinstance(sink_class.PLUGIN_NAME, str) and sink_class.PLUGIN_NAME
        assert sink_class.from_environment(tmp_path) is None

    def test_emit_returns_in_bounded_time_or_raises_billing_error(
        self,
        sink_class: type[BillingSink],
        sink_env: Dict[str, str],
        tmp_path: Path,
        monkeypatch: pytest.MonkeyPatch,
    ) -> None:
        for name, value in sink_env.items():
            monkeypatch.setenv(name, value)
        sink = sink_class.from_environment(tmp_path)
        assert isinstance(sink, BillingSink)
        event: Mapping[str, Any] = {"event": "train_end", "run_id": "run_x", "event_id": "evt-1"}
        started = time.monotonic()
        try:
            sink.emit(event)
        except BillingError:
            pass  # failing is allowed; failing slowly or with a vendor exception is not
        finally:
            sink.close()
        assert time.monotonic() - started < self.emit_budget_seconds
