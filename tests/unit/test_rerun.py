"""reproduce without --verify-only, on the fakes: same outputs PASS, different weights FAIL."""

from __future__ import annotations

import json
from pathlib import Path

from verifily_adapters.local_store.store import LocalArtifactStore
from verifily_core.config import TrainConfig
from verifily_core.domain.training import TrainCallbacks, TrainOutcome, TrainRequest
from verifily_core.services.reproduction.rerun import rerun
from verifily_core.services.training.dependencies import TrainDependencies
from verifily_core.services.training.train import train
from verifily_core.testing import ScriptedModelBackend


def _setup(tmp_path: Path) -> TrainConfig:
    rows = [{"instruction": "Reverse.", "input": f"a {c}", "output": f"{c} a"} for c in "bcdef"]
    (tmp_path / "train.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    (tmp_path / "model").mkdir()
    (tmp_path / "model" / "config.json").write_text("{}")
    return TrainConfig.from_dict(
        {
            "task": "sft",
            "base_model": str(tmp_path / "model"),
            "data_paths": {"train": str(tmp_path / "train.jsonl")},
            "output": {"dir": str(tmp_path / "runs")},
        }
    )


def test_identical_rerun_passes_with_bitwise_weights(tmp_path: Path) -> None:
    deps = TrainDependencies(ScriptedModelBackend(), LocalArtifactStore(tmp_path / "runs"))
    original = train(_setup(tmp_path), deps)
    report = rerun(original.run_id, deps)
    assert report.verdict == "PASS", report.details
    assert report.checks["weights"] == "PASS" and report.checks["train_loss"] == "PASS"
    assert report.new_run_id != original.run_id and Path(report.new_run_path).is_dir()


class DriftingBackend(ScriptedModelBackend):
    """Each training writes different weights: what a nondeterministic kernel would do."""

    calls = 0

    def train(self, request: TrainRequest, callbacks: TrainCallbacks) -> TrainOutcome:
        outcome = super().train(request, callbacks)
        DriftingBackend.calls += 1
        weights = next((request.output_dir / "adapter").glob("*.safetensors"), None) or next(
            p for p in (request.output_dir / "adapter").iterdir() if p.name != "adapter_config.json"
        )
        weights.write_bytes(weights.read_bytes() + bytes([DriftingBackend.calls]))
        return outcome


def test_changed_weights_fail_naming_the_file(tmp_path: Path) -> None:
    deps = TrainDependencies(DriftingBackend(), LocalArtifactStore(tmp_path / "runs"))
    original = train(_setup(tmp_path), deps)
    report = rerun(original.run_id, deps)
    assert report.verdict == "FAIL" and report.checks["weights"] == "FAIL"
    assert any("adapter/" in line for line in report.details)
