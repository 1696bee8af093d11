"""The train use case on the shipped fakes: run folder life cycle, failures, resume, dry run."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, List, Optional

import pytest
from helpers.data import write_jsonl

from verifily_adapters.local_store.store import LocalArtifactStore
from verifily_core.config import TrainConfig
from verifily_core.domain.training import TrainCallbacks, TrainOutcome, TrainRequest
from verifily_core.errors import BackendError, DataError, IntegrityError
from verifily_core.services.training.dependencies import TrainDependencies
from verifily_core.services.training.train import latest_checkpoint, train
from verifily_core.testing import RecordingBillingSink, RecordingTracker, ScriptedModelBackend


@pytest.fixture()
def workspace(tmp_path: Path) -> Path:
    rows = [
        {"instruction": "Reverse.", "input": f"a {c}", "output": f"{c} a", "tags": {"source": s}}
        for c, s in zip("bcdefgh", ["human", "synthetic"] * 4)
    ]
    write_jsonl(tmp_path / "train.jsonl", rows)
    write_jsonl(tmp_path / "test.jsonl", rows[:3])
    (tmp_path / "model").mkdir()
    (tmp_path / "model" / "config.json").write_text("{}")
    return tmp_path


def _config(ws: Path, **over: Any) -> TrainConfig:
    data = {
        "task": "sft",
        "base_model": "model",
        "data_paths": {"train": "train.jsonl", "test": "test.jsonl"},
        "output": {"dir": "runs"},
    }
    cfg_path = ws / "train.yaml"
    import yaml

    cfg_path.write_text(yaml.safe_dump(data))
    cfg = TrainConfig.from_yaml(cfg_path)
    return cfg.apply_overrides(over) if over else cfg


def _sink_type(sink: RecordingBillingSink) -> type[RecordingBillingSink]:
    """A sink class handing out ``sink``: the train use case builds its sinks from classes."""

    class ThisTestsSink(RecordingBillingSink):
        @classmethod
        def from_environment(cls, run_dir: Optional[Path]) -> RecordingBillingSink:
            return sink

    return ThisTestsSink


def _deps(
    ws: Path,
    backend: Any = None,
    trackers: Any = (),
    evaluate: Any = None,
    sink: Optional[RecordingBillingSink] = None,
) -> TrainDependencies:
    """The fakes wired up; a run's billing events land in ``sink`` (a fresh one per run if None)."""
    return TrainDependencies(
        backend or ScriptedModelBackend(),
        LocalArtifactStore(ws / "runs"),
        list(trackers),
        [_sink_type(sink) if sink else RecordingBillingSink],
        evaluate,
    )


def _meta(run_path: str) -> dict:
    return json.loads((Path(run_path) / "run_meta.json").read_text())


@pytest.fixture()
def sink() -> RecordingBillingSink:
    """This test's billing sink (pass it to ``_deps``): no state shared between tests."""
    return RecordingBillingSink()


def test_completed_run_writes_every_file_and_seals_artifacts(
    workspace: Path, sink: RecordingBillingSink
) -> None:
    run = train(_config(workspace), _deps(workspace, sink=sink))
    folder = Path(run.artifact_path)
    assert run.status == "completed" and _meta(run.artifact_path)["status"] == "completed"
    for name in (
        "config.yaml",
        "hashes.json",
        "environment.json",
        "training_info.json",
        "train_summary.json",
        "usage_summary.json",
        "adapter",
    ):
        assert (folder / name).exists(), name
    hashes = json.loads((folder / "hashes.json").read_text())
    assert any(k.startswith("adapter/") for k in hashes["artifacts"])
    assert run.metrics["train_loss"] == pytest.approx(
        sum((2.0, 1.4, 0.9, 0.6)) / 4
    )  # the fake reports the mean
    assert [e["event"] for e in sink.events] == ["train_start", "train_end"]
    info = json.loads((folder / "training_info.json").read_text())
    assert info["data_files"]["train"] == [str(workspace / "train.jsonl")]


def test_dry_run_validates_without_training(workspace: Path) -> None:
    backend = ScriptedModelBackend()
    run = train(_config(workspace), _deps(workspace, backend), dry_run=True)
    assert run.status == "dry_run" and _meta(run.artifact_path)["status"] == "dry_run"
    assert not any(call[0] == "train" for call in backend.history)
    assert not (Path(run.artifact_path) / "train_summary.json").exists()


def test_backend_failure_marks_run_failed_with_reason(workspace: Path) -> None:
    backend = ScriptedModelBackend(error=BackendError("GPU on fire"))
    with pytest.raises(BackendError):
        train(_config(workspace), _deps(workspace, backend))
    [run_dir] = list((workspace / "runs").iterdir())
    meta = _meta(str(run_dir))
    assert meta["status"] == "failed" and "GPU on fire" in meta["error"]


class InterruptingBackend(ScriptedModelBackend):
    """Writes a checkpoint, then is interrupted (like Ctrl-C during training)."""

    resumed_from: Optional[Path] = None

    def train(self, request: TrainRequest, callbacks: TrainCallbacks) -> TrainOutcome:
        if request.resume_from is None:
            (request.output_dir / "checkpoints" / "checkpoint-2").mkdir(parents=True)
            (request.output_dir / "checkpoints" / "checkpoint-10").mkdir(parents=True)
            raise KeyboardInterrupt
        InterruptingBackend.resumed_from = request.resume_from
        return super().train(request, callbacks)


def test_interrupt_then_resume_in_the_same_folder(workspace: Path) -> None:
    deps = _deps(workspace, InterruptingBackend())
    with pytest.raises(KeyboardInterrupt):
        train(_config(workspace), deps)
    [run_dir] = list((workspace / "runs").iterdir())
    meta = _meta(str(run_dir))
    assert meta["status"] == "interrupted" and "--resume" in meta["resume_hint"]
    assert latest_checkpoint(run_dir) == run_dir / "checkpoints" / "checkpoint-10"
    run = train(None, deps, resume_run_id=run_dir.name)
    assert run.status == "completed" and Path(run.artifact_path) == run_dir
    assert InterruptingBackend.resumed_from == run_dir / "checkpoints" / "checkpoint-10"


def test_resume_refuses_changed_data(workspace: Path) -> None:
    deps = _deps(workspace, InterruptingBackend())
    with pytest.raises(KeyboardInterrupt):
        train(_config(workspace), deps)
    [run_dir] = list((workspace / "runs").iterdir())
    with (workspace / "train.jsonl").open("a") as fh:
        fh.write(json.dumps({"instruction": "x", "output": "y"}) + "\n")
    with pytest.raises(DataError, match="changed since it started"):
        train(None, deps, resume_run_id=run_dir.name)


def test_resume_refuses_a_tampered_config_and_a_changed_base_model(workspace: Path) -> None:
    deps = _deps(workspace, InterruptingBackend())
    with pytest.raises(KeyboardInterrupt):
        train(_config(workspace), deps)
    [run_dir] = list((workspace / "runs").iterdir())
    frozen = (run_dir / "config.yaml").read_text()
    (run_dir / "config.yaml").write_text(frozen.replace("learning_rate: 0.0002", "learning_rate: 0.2"))
    with pytest.raises(IntegrityError, match="does not match its seal") as err:
        train(None, deps, resume_run_id=run_dir.name)
    assert any(p.startswith("file changed: config.yaml") for p in err.value.problems)
    (run_dir / "config.yaml").write_text(frozen)
    (workspace / "model" / "config.json").write_text('{"changed": true}')
    with pytest.raises(DataError, match="base model of run .* changed") as changed:
        train(None, deps, resume_run_id=run_dir.name)
    assert changed.value.problems[0].startswith("base model file changed: config.json")


def test_failing_tracker_and_sink_do_not_fail_the_run(workspace: Path) -> None:
    failing = RecordingBillingSink(fail=True)

    class Broken(RecordingTracker):
        def __init__(self, config: Any, run_dir: Path) -> None:
            super().__init__(config, run_dir, fail_on=("log", "start"))

    run = train(_config(workspace), _deps(workspace, trackers=[Broken], sink=failing))
    assert run.status == "completed" and failing.attempts > 0


def test_tracker_receives_logs_and_summary(workspace: Path) -> None:
    seen: List[RecordingTracker] = []

    class Kept(RecordingTracker):
        def __init__(self, config: Any, run_dir: Path) -> None:
            super().__init__(config, run_dir)
            seen.append(self)

    train(_config(workspace), _deps(workspace, trackers=[Kept]))
    calls = [c[0] for c in seen[0].calls]
    assert calls[0] == "start" and calls[-1] == "finish" and "log" in calls


def test_auto_evaluation_runs_when_test_data_and_enabled(workspace: Path, sink: RecordingBillingSink) -> None:
    called: List[str] = []

    def fake_evaluate(store: Any, run_id: str, backend: Any) -> Any:
        called.append(run_id)

        class R:
            overall = {"f1": 1.0}

        return R()

    run = train(_config(workspace), _deps(workspace, evaluate=fake_evaluate, sink=sink))
    assert called == [run.run_id] and run.metrics["eval"] == {"f1": 1.0}
    assert [e["event"] for e in sink.events] == ["train_start", "train_end", "eval_start", "eval_end"]
    train(_config(workspace, **{"eval.enabled": False}), _deps(workspace, evaluate=fake_evaluate, sink=sink))
    assert len(called) == 1


def _unseen_label_config(tmp_path: Path) -> TrainConfig:
    write_jsonl(tmp_path / "train.jsonl", [{"text": "good", "label": "pos"}, {"text": "bad", "label": "neg"}])
    write_jsonl(tmp_path / "val.jsonl", [{"text": "meh", "label": "neutral"}])
    return TrainConfig.from_dict(
        {
            "task": "classification",
            "base_model": "m",
            "data_paths": {"train": str(tmp_path / "train.jsonl"), "val": str(tmp_path / "val.jsonl")},
            "output": {"dir": str(tmp_path / "runs")},
        }
    )


def test_unseen_validation_label_fails_before_training_with_a_failed_run_folder(tmp_path: Path) -> None:
    backend = ScriptedModelBackend()
    with pytest.raises(DataError) as info:
        train(_unseen_label_config(tmp_path), _deps(tmp_path, backend))
    assert "neutral" in str(info.value) and "val.jsonl:1" in str(info.value) and "neg, pos" in str(info.value)
    assert not any(call[0] == "train" for call in backend.history)
    [run_dir] = list((tmp_path / "runs").iterdir())
    meta = _meta(str(run_dir))
    assert meta["status"] == "failed" and "neutral" in meta["error"]
    assert (run_dir / "config.yaml").is_file()


def test_a_dry_run_that_fails_leaves_no_run_folder(tmp_path: Path) -> None:
    with pytest.raises(DataError):
        train(_unseen_label_config(tmp_path), _deps(tmp_path), dry_run=True)
    assert not (tmp_path / "runs").exists() or not any((tmp_path / "runs").iterdir())


def test_two_runs_in_one_process_get_distinct_folders(workspace: Path) -> None:
    a = train(_config(workspace), _deps(workspace))
    b = train(_config(workspace), _deps(workspace))
    assert a.run_id != b.run_id and a.reproducibility_hash == b.reproducibility_hash
