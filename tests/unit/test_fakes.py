"""The shipped fakes keep their promises: full port implementations, scripted and recorded
behaviour that core tests can rely on. (The store rules shared with the local store are checked
for both in tests/adapters/test_local_store.py.)
"""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any, Mapping, Sequence

import pytest

from verifily_core.config import TrainConfig
from verifily_core.domain.examples import ClassificationExample, SFTExample
from verifily_core.domain.runs import ADAPTER_DIR, RUN_META
from verifily_core.domain.training import ClassPrediction, TrainCallbacks, TrainOutcome, TrainRequest
from verifily_core.errors import BackendError, BillingError, StoreError, TrackerError
from verifily_core.testing import (
    InMemoryArtifactStore,
    RecordingBillingSink,
    RecordingTracker,
    ScriptedModelBackend,
)

SFT_ROWS = [SFTExample(instruction="Reverse", input=f"{i} x", output=f"x {i}") for i in range(5)]
CLS_ROWS = [ClassificationExample(text=f"text {i}", label=label) for i, label in enumerate("bab")]


def sft_config(**extra: Any) -> TrainConfig:
    return TrainConfig.from_dict({"task": "sft", "base_model": "tiny", **extra})


def train(
    backend: ScriptedModelBackend,
    out: Path,
    *,
    config: TrainConfig | None = None,
    rows: Sequence[Any] = tuple(SFT_ROWS),
    val: Sequence[Any] = (),
    labels: Sequence[str] = (),
    callbacks: TrainCallbacks | None = None,
) -> TrainOutcome:
    request = TrainRequest(config or sft_config(), rows, val, out, labels=labels)
    return backend.train(request, callbacks or TrainCallbacks())


# ---------------------------------------------------------------- ScriptedModelBackend
def test_train_follows_the_script_and_reports_through_callbacks(tmp_path: Path) -> None:
    losses = [3.0, 2.0, 0.5]
    events: list[tuple[str, Any]] = []
    callbacks = TrainCallbacks(
        on_start=lambda total: events.append(("start", total)),
        on_step=lambda step, total: events.append(("step", (step, total))),
        on_log=lambda step, metrics: events.append(("log", (step, metrics["loss"]))),
    )
    backend = ScriptedModelBackend(losses)
    outcome = train(backend, tmp_path, val=SFT_ROWS[:1], callbacks=callbacks)
    assert events[0] == ("start", len(losses))
    assert [e[1] for e in events if e[0] == "log"] == list(enumerate(losses, 1))
    assert [e[1] for e in events if e[0] == "step"] == [(i, len(losses)) for i in range(1, len(losses) + 1)]
    assert outcome.global_step == len(losses)
    assert outcome.train_loss == pytest.approx(sum(losses) / len(losses))
    assert outcome.eval_loss == losses[-1]
    assert outcome.train_rows == len(SFT_ROWS)
    assert [h["loss"] for h in outcome.log_history] == losses
    assert backend.history[0][0] == "train" and backend.history[0][1].output_dir == tmp_path


def test_no_validation_rows_means_no_eval_loss(tmp_path: Path) -> None:
    assert train(ScriptedModelBackend(), tmp_path).eval_loss is None


def test_train_writes_an_adapter_whose_bytes_follow_config_and_data(tmp_path: Path) -> None:
    def weights(out: Path, **kwargs: Any) -> bytes:
        train(ScriptedModelBackend(), out, **kwargs)
        adapter = out / ADAPTER_DIR
        assert json.loads((adapter / "adapter_config.json").read_text())["task"] == "sft"
        return (adapter / ScriptedModelBackend.WEIGHTS_FILE).read_bytes()

    first = weights(tmp_path / "a")
    assert first and first == weights(tmp_path / "b")
    assert first != weights(tmp_path / "c", rows=SFT_ROWS[:-1])
    assert first != weights(tmp_path / "d", config=sft_config(seed=7))


def test_scripted_error_is_raised_after_being_recorded(tmp_path: Path) -> None:
    backend = ScriptedModelBackend(error=BackendError("CUDA out of memory"))
    with pytest.raises(BackendError, match="out of memory"):
        train(backend, tmp_path)
    assert [h[0] for h in backend.history] == ["train"]
    assert not (tmp_path / ADAPTER_DIR).exists()


def test_validate_model_and_supports() -> None:
    backend = ScriptedModelBackend()
    assert backend.supports("sft") and backend.supports("classification") and not backend.supports("dpo")
    backend.validate_model("some/model", "sft")
    with pytest.raises(BackendError, match="empty"):
        backend.validate_model("  ", "sft")
    with pytest.raises(BackendError, match="dpo"):
        backend.validate_model("some/model", "dpo")
    assert all(isinstance(v, str) for v in backend.environment().values())


def test_load_needs_a_trained_run(tmp_path: Path) -> None:
    with pytest.raises(BackendError, match=str(tmp_path)):
        ScriptedModelBackend().load(tmp_path, {})


def test_generate_echoes_references_unless_answers_are_enqueued(tmp_path: Path) -> None:
    backend = ScriptedModelBackend()
    train(backend, tmp_path)
    backend.enqueue("first", "second")
    predictor = backend.load(tmp_path, {})
    out = predictor.generate(SFT_ROWS[:3], max_new_tokens=8, num_beams=1, batch_size=2)
    assert out == ["first", "second", SFT_ROWS[2].output]
    again = predictor.generate(SFT_ROWS[:1], max_new_tokens=8, num_beams=1, batch_size=2)
    assert again == [SFT_ROWS[0].output]
    assert [h[0] for h in backend.history] == ["train", "load", "generate", "generate"]


def test_classify_defaults_to_the_first_label_and_passes_enqueued_predictions(tmp_path: Path) -> None:
    backend = ScriptedModelBackend()
    labels = tuple(sorted({r.label for r in CLS_ROWS}))
    train(
        backend,
        tmp_path,
        config=TrainConfig.from_dict({"task": "classification", "base_model": "m"}),
        rows=CLS_ROWS,
        labels=labels,
    )
    scripted = ClassPrediction("b", {"a": 0.2, "b": 0.8})
    backend.enqueue("b", scripted)
    predictions = backend.load(tmp_path, {"labels": list(labels)}).classify(CLS_ROWS, batch_size=4)
    assert [p.label for p in predictions] == ["b", "b", labels[0]]
    assert predictions[1] is scripted
    for p in predictions:
        assert set(p.probabilities) == set(labels)
        assert math.isclose(sum(p.probabilities.values()), 1.0)
        assert max(p.probabilities, key=lambda k: p.probabilities[k]) == p.label


def test_labels_come_from_the_adapter_when_training_info_lacks_them(tmp_path: Path) -> None:
    backend = ScriptedModelBackend()
    train(
        backend,
        tmp_path,
        config=TrainConfig.from_dict({"task": "classification", "base_model": "m"}),
        rows=CLS_ROWS,
        labels=("z-last", "a-first"),
    )
    [prediction] = backend.load(tmp_path, {}).classify(CLS_ROWS[:1], batch_size=1)
    assert prediction.label == "z-last"


def test_reference_loss_scales_with_tokens_and_close_is_recorded(tmp_path: Path) -> None:
    backend = ScriptedModelBackend([1.0, 0.25])
    train(backend, tmp_path)
    predictor = backend.load(tmp_path, {})
    rows = [SFTExample(instruction="i", output="one two three"), SFTExample(instruction="i", output="")]
    losses = predictor.reference_loss(rows, batch_size=2)
    assert [(x.nll_sum, x.num_tokens) for x in losses] == [(0.75, 3), (0.25, 1)]
    predictor.close()
    assert backend.history[-1] == ("close", None)


# ---------------------------------------------------------------- InMemoryArtifactStore specifics
def test_memory_store_keeps_backend_files_local_until_sync(tmp_path: Path) -> None:
    store = InMemoryArtifactStore(local_root=tmp_path)
    run = store.create_run()
    assert store.local_dir(run.run_id) == run.path and run.path.is_dir()
    train(ScriptedModelBackend(), store.local_dir(run.run_id))
    relpath = f"{ADAPTER_DIR}/adapter_config.json"
    assert not store.exists(run.run_id, relpath)
    store.sync(run.run_id)
    assert store.read_json(run.run_id, relpath)["task"] == "sft"
    on_disk = sum(p.stat().st_size for p in run.path.rglob("*") if p.is_file())
    assert store.size_bytes(run.run_id) == on_disk


def test_memory_store_round_trips_and_names_files_in_errors() -> None:
    store = InMemoryArtifactStore("mem")
    run_id = store.create_run("exp").run_id
    store.write_json(run_id, RUN_META, {"status": "running", "note": "é"})
    store.write_jsonl(run_id, "eval/predictions.jsonl", [{"i": 1}, {"i": 2}])
    assert store.read_json(run_id, RUN_META) == {"status": "running", "note": "é"}
    assert list(store.iter_jsonl(run_id, "eval/predictions.jsonl")) == [{"i": 1}, {"i": 2}]
    store.write_text(run_id, "eval/predictions.jsonl", '{"i": 1}\n{broken\n')
    with pytest.raises(StoreError, match=rf"mem/{run_id}/eval/predictions.jsonl:2"):
        list(store.iter_jsonl(run_id, "eval/predictions.jsonl"))
    with pytest.raises(StoreError, match="relative"):
        store.write_text(run_id, "../escape.txt", "x")
    assert not store.exists(run_id, "/etc/passwd")


# ---------------------------------------------------------------- RecordingTracker
def test_recording_tracker_records_in_order_and_can_fail(tmp_path: Path) -> None:
    tracker = RecordingTracker(sft_config(), tmp_path)
    tracker.start("run_1", {"training.learning_rate": 2e-4})
    tracker.log({"loss": 1.5}, 10)
    tracker.log({"loss": 0.5}, 20)
    tracker.finish({"train_loss": 1.0})
    assert [c[0] for c in tracker.calls] == ["start", "log", "log", "finish"]
    assert tracker.logged == [(10, {"loss": 1.5}), (20, {"loss": 0.5})]
    failing = RecordingTracker(sft_config(), tmp_path, fail_on={"log"})
    failing.start("run_2", {})
    with pytest.raises(TrackerError, match="log"):
        failing.log({"loss": 1.0}, 1)
    assert [c[0] for c in failing.calls] == ["start"]


# ---------------------------------------------------------------- RecordingBillingSink
def test_recording_billing_sink_records_and_fails_on_demand() -> None:
    sink = RecordingBillingSink.from_environment(None)
    assert isinstance(sink, RecordingBillingSink)
    event: Mapping[str, Any] = {"event_id": "e1", "gpu_hours": 0.5}
    sink.emit(event)
    sink.fail = True
    with pytest.raises(BillingError, match="e1"):
        sink.emit(event)
    sink.close()
    assert sink.events == [dict(event)] and sink.attempts == 2 and sink.closed
