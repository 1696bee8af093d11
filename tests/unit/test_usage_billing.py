"""Usage arithmetic and the BillingTracker use case, on fakes (no filesystem, no network)."""

from __future__ import annotations

import logging
from typing import Any, Dict, List, Mapping, Optional

import pytest

from verifily_core.domain.runs import USAGE_SUMMARY
from verifily_core.domain.usage import UsageRecord, compute_hours, gpu_hours, storage_mb, usage_summary
from verifily_core.errors import BillingError, StoreError
from verifily_core.ports.billing_sink import BillingSink
from verifily_core.services.billing.tracker import BillingTracker


class FakeClock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


class FakeStore:
    """The slice of ArtifactStore the billing tracker uses: sizes and JSON files in memory."""

    def __init__(self, size: int = 0) -> None:
        self.size = size
        self.files: Dict[str, Any] = {}

    def size_bytes(self, run_id: str) -> int:
        return self.size

    def exists(self, run_id: str, relpath: str) -> bool:
        return (run_id, relpath) in self.files

    def read_json(self, run_id: str, relpath: str) -> Any:
        value = self.files[(run_id, relpath)]
        if value == "corrupt":
            raise StoreError(f"{relpath}:1: not valid JSON")
        return value

    def write_json(self, run_id: str, relpath: str, data: Any) -> None:
        self.files[(run_id, relpath)] = data


class ListSink(BillingSink):
    PLUGIN_NAME = "list"

    def __init__(self, fail: bool = False) -> None:
        self.events: List[Mapping[str, Any]] = []
        self.fail = fail

    @classmethod
    def from_environment(cls, run_dir: Optional[Any]) -> Optional[ListSink]:
        return cls()

    def emit(self, event: Mapping[str, Any]) -> None:
        if self.fail:
            raise BillingError("endpoint down on purpose")
        self.events.append(event)


def test_gpu_hours_is_wall_hours_times_gpus_and_zero_on_cpu() -> None:
    assert gpu_hours(1800, "cuda", 2) == pytest.approx(1.0)
    assert gpu_hours(900, "cuda:1", 1) == pytest.approx(0.25)
    assert gpu_hours(3600, "mps", 0) == pytest.approx(1.0)  # a GPU device counts at least one GPU
    assert gpu_hours(7200, "cpu", 4) == 0.0
    assert compute_hours(5400) == pytest.approx(1.5)
    assert storage_mb(52428800) == 50.0


def test_tracker_measures_the_span_on_its_clock_and_writes_the_summary() -> None:
    clock, store = FakeClock(), FakeStore(size=3 * 2**20)
    tracker = BillingTracker("run_x", store, device="cuda", gpu_type="NVIDIA A100", num_gpus=2, clock=clock)
    tracker.start()
    clock.now += 900  # a quarter of an hour on two GPUs
    usage = tracker.end(tokens_processed=1_000_000, train_rows=5000)

    assert usage.event == "train_end" and usage.gpu_type == "NVIDIA A100"
    assert usage.gpu_hours == pytest.approx(0.5)
    assert usage.metadata["compute_hours"] == pytest.approx(0.25)
    assert (usage.tokens_processed, usage.train_rows, usage.storage_bytes) == (1_000_000, 5000, 3 * 2**20)
    summary = store.files[("run_x", USAGE_SUMMARY)]
    assert summary["total_gpu_hours"] == pytest.approx(0.5)
    assert summary["total_tokens_processed"] == 1_000_000
    assert summary["storage_bytes"] == 3 * 2**20 and summary["storage_mb"] == 3.0
    assert [e["event"] for e in summary["events"]] == ["train_start", "train_end"]
    assert (summary["device"], summary["num_gpus"], summary["train_rows"]) == ("cuda", 2, 5000)


def test_cpu_run_records_device_and_compute_hours_but_no_gpu_hours() -> None:
    clock = FakeClock()
    tracker = BillingTracker("run_cpu", FakeStore(), clock=clock)
    tracker.start()
    clock.now += 7200
    usage = tracker.end(tokens_processed=10, train_rows=2)
    assert usage.gpu_hours == 0.0
    assert usage.metadata["device"] == "cpu"
    assert usage.metadata["compute_hours"] == pytest.approx(2.0)


def test_configure_changes_what_the_next_end_bills() -> None:
    clock = FakeClock()
    tracker = BillingTracker("run_x", FakeStore(), clock=clock)
    tracker.start()
    tracker.configure("cuda", "NVIDIA H100", 4)  # known once the backend started
    clock.now += 1800
    assert tracker.end().gpu_hours == pytest.approx(2.0)


def test_spans_are_matched_by_name_so_an_eval_inside_training_is_measured_on_its_own() -> None:
    clock = FakeClock()
    tracker = BillingTracker("run_x", FakeStore(), device="cuda", num_gpus=1, clock=clock)
    tracker.start("train_start")
    clock.now += 3600
    tracker.start("eval_start")
    clock.now += 360
    evaluation = tracker.end("eval_end")
    clock.now += 36
    training = tracker.end("train_end")
    assert evaluation.gpu_hours == pytest.approx(0.1)
    assert training.gpu_hours == pytest.approx(1.11)


def test_eval_events_extend_the_summary_written_by_training() -> None:
    clock, store = FakeClock(), FakeStore(size=100)
    train = BillingTracker("run_x", store, device="cuda", num_gpus=1, clock=clock)
    train.start()
    clock.now += 3600
    train.end(tokens_processed=50, train_rows=8)
    evaluation = BillingTracker("run_x", store, device="cuda", num_gpus=1, clock=clock)
    evaluation.start("eval_start")
    clock.now += 1800
    evaluation.end("eval_end", tokens_processed=20)

    summary = store.files[("run_x", USAGE_SUMMARY)]
    assert [e["event"] for e in summary["events"]] == ["train_start", "train_end", "eval_start", "eval_end"]
    assert summary["total_gpu_hours"] == pytest.approx(1.5)
    assert summary["total_tokens_processed"] == 70
    assert summary["train_rows"] == 8


def test_unreadable_previous_summary_is_replaced_with_a_warning(caplog: pytest.LogCaptureFixture) -> None:
    store = FakeStore()
    store.files[("run_x", USAGE_SUMMARY)] = "corrupt"
    tracker = BillingTracker("run_x", store, clock=FakeClock())
    tracker.start()
    with caplog.at_level(logging.WARNING, logger="verifily"):
        tracker.end()
    assert len(store.files[("run_x", USAGE_SUMMARY)]["events"]) == 2
    assert "unreadable" in caplog.text


def test_raising_hook_and_failing_sink_are_logged_and_the_others_still_run(
    caplog: pytest.LogCaptureFixture,
) -> None:
    seen: List[str] = []
    broken, healthy = ListSink(fail=True), ListSink()
    tracker = BillingTracker("run_x", FakeStore(), sinks=[broken, healthy], clock=FakeClock())

    def boom(record: UsageRecord) -> None:
        raise RuntimeError("hook failure on purpose")

    tracker.add_hook(boom)
    tracker.add_hook(lambda record: seen.append(record.event))
    with caplog.at_level(logging.WARNING, logger="verifily"):
        tracker.start()
        usage = tracker.end(tokens_processed=3)

    assert seen == ["train_start", "train_end"]
    assert [e["event"] for e in healthy.events] == ["train_start", "train_end"]
    assert healthy.events[-1] == usage.to_dict()
    assert caplog.text.count("hook failure on purpose") == 2
    assert caplog.text.count("endpoint down on purpose") == 2


def test_event_ids_are_unique_and_survive_the_json_round_trip() -> None:
    tracker = BillingTracker("run_x", None, clock=FakeClock())
    first, last = tracker.start(), tracker.end()
    assert first.event_id != last.event_id
    assert UsageRecord.from_dict({**last.to_dict(), "added_later": 1}) == last
    assert [r.event_id for r in tracker.records] == [first.event_id, last.event_id]


def test_end_without_start_counts_zero_seconds(caplog: pytest.LogCaptureFixture) -> None:
    tracker = BillingTracker("run_x", None, device="cuda", num_gpus=8, clock=FakeClock())
    with caplog.at_level(logging.WARNING, logger="verifily"):
        assert tracker.end().gpu_hours == 0.0
    assert "without a start" in caplog.text


def test_artifact_path_without_a_store_factory_is_a_clear_error() -> None:
    with pytest.raises(BillingError, match="needs a store") as info:
        BillingTracker("run_x", artifact_path="runs/run_x")
    assert "verifily_train.billing" in (info.value.hint or "")


def test_usage_summary_of_no_events_is_empty_but_complete() -> None:
    summary = usage_summary("run_x", [], 0)
    assert summary["events"] == [] and summary["total_gpu_hours"] == 0 and summary["device"] == "cpu"
