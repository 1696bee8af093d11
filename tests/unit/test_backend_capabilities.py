"""What the core asks a backend instead of knowing it: where its weights are, whether two weight
files are close, and whether (and how) it trains in several processes."""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any, List

import pytest

from verifily_adapters.local_store.store import LocalArtifactStore
from verifily_core.config import TrainConfig
from verifily_core.domain.training import TrainCallbacks, TrainOutcome, TrainRequest
from verifily_core.errors import ConfigError
from verifily_core.ports import ArtifactLayout
from verifily_core.services.reproduction.rerun import rerun
from verifily_core.services.training.dependencies import TrainDependencies
from verifily_core.services.training.train import train
from verifily_core.testing import RecordingTracker, ScriptedModelBackend


def _config(tmp_path: Path, **compute: Any) -> TrainConfig:
    rows = [{"instruction": "Reverse.", "input": f"a {c}", "output": f"{c} a"} for c in "bcdef"]
    (tmp_path / "train.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    (tmp_path / "model").mkdir(exist_ok=True)
    (tmp_path / "model" / "config.json").write_text("{}")
    return TrainConfig.from_dict(
        {
            "task": "sft",
            "base_model": str(tmp_path / "model"),
            "data_paths": {"train": str(tmp_path / "train.jsonl")},
            "output": {"dir": str(tmp_path / "runs")},
            "compute": compute,
        }
    )


class NudgedBackend(ScriptedModelBackend):
    """The n-th training sets the first weight byte to n: two runs differ by 1 in one value."""

    def __init__(self) -> None:
        super().__init__()
        self.trainings = 0

    def train(self, request: TrainRequest, callbacks: TrainCallbacks) -> TrainOutcome:
        outcome = super().train(request, callbacks)
        self.trainings += 1
        weights = request.output_dir / "adapter" / self.WEIGHTS_FILE
        weights.write_bytes(bytes([self.trainings]) + weights.read_bytes()[1:])
        return outcome


def test_reproduce_atol_asks_the_backend_to_compare_the_weights(tmp_path: Path) -> None:
    backend = NudgedBackend()
    deps = TrainDependencies(backend, LocalArtifactStore(tmp_path / "runs"))
    original = train(_config(tmp_path), deps)
    assert rerun(original.run_id, deps, atol=1.0).checks["weights"] == "PASS"
    asked = [call[1] for call in backend.history if call[0] == "weights_close"]
    assert asked and asked[0][2] == 1.0 and asked[0][0].name == backend.WEIGHTS_FILE
    strict = rerun(original.run_id, deps, atol=0.5)
    assert strict.checks["weights"] == "FAIL"
    assert any("max |difference| 2 > atol 0.5" in line for line in strict.details), strict.details


class ElsewhereBackend(ScriptedModelBackend):
    """Writes its weights to ``weights/`` (not adapter/ or model/) and says so."""

    def artifact_layout(self) -> ArtifactLayout:
        return ArtifactLayout(weights=("weights",), companions=())

    def train(self, request: TrainRequest, callbacks: TrainCallbacks) -> TrainOutcome:
        outcome = super().train(request, callbacks)
        shutil.move(str(request.output_dir / "adapter"), str(request.output_dir / "weights"))
        return outcome


def test_the_layout_decides_which_files_are_compared_and_uploaded(tmp_path: Path) -> None:
    seen: List[RecordingTracker] = []

    class Kept(RecordingTracker):
        def __init__(self, config: Any, run_dir: Path) -> None:
            super().__init__(config, run_dir)
            seen.append(self)

    deps = TrainDependencies(ElsewhereBackend(), LocalArtifactStore(tmp_path / "runs"), [Kept])
    original = train(_config(tmp_path), deps)
    uploaded = [payload for method, payload in seen[0].calls if method == "log_artifact"]
    assert uploaded == [(Path(original.artifact_path) / "weights", "weights")]
    report = rerun(original.run_id, deps)
    assert report.checks["weights"] == "PASS"
    assert "weights: 2 file(s) bitwise identical" in report.details


def test_a_backend_without_launches_refuses_distributed_training_naming_the_key(tmp_path: Path) -> None:
    config = _config(tmp_path, distributed=True, num_gpus=2)
    with pytest.raises(ConfigError, match="trains in one process") as info:
        ScriptedModelBackend().plan_launch(config, ["train"], None)
    assert info.value.key == "compute.distributed"
    plan = ScriptedModelBackend(launcher=["launch", "--n"]).plan_launch(config, ["train", "-c", "x"], None)
    assert plan.command == ("launch", "--n", "train", "-c", "x") and plan.num_processes == 2
