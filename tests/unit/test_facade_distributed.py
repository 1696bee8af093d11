"""``verifily_train.train()`` with ``compute.distributed: true``: refused in a plain process (a
function cannot launch copies of itself), honoured inside a launch (every process calls it)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Iterator

import pytest

import verifily_core.testing
from verifily_core.config import TrainConfig
from verifily_core.errors import ConfigError
from verifily_core.plugins.manager import registry
from verifily_train import train


@pytest.fixture
def config(tmp_path: Path) -> Iterator[TrainConfig]:
    registry.register(verifily_core.testing, name="testing-fakes")
    rows = [{"instruction": "Reverse.", "input": f"a {c}", "output": f"{c} a"} for c in "bcdef"]
    (tmp_path / "train.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    try:
        yield TrainConfig.from_dict(
            {
                "task": "sft",
                "base_model": "scripted-model",
                "backend": "scripted",
                "data_paths": {"train": str(tmp_path / "train.jsonl")},
                "output": {"dir": str(tmp_path / "runs")},
                "compute": {"distributed": True, "device": "cpu", "num_gpus": 2},
            }
        )
    finally:
        registry.unregister(name="testing-fakes")


def test_a_plain_process_is_told_how_to_launch_and_nothing_is_written(
    config: TrainConfig, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    for key in ("LOCAL_RANK", "ACCELERATE_DYNAMO_BACKEND", "TORCHELASTIC_RUN_ID", "VERIFILY_LAUNCH_ID"):
        monkeypatch.delenv(key, raising=False)
    with pytest.raises(ConfigError, match="needs several processes") as info:
        train(config)
    assert info.value.key == "compute.distributed"
    assert "verifily train --config FILE --distributed" in (info.value.hint or "")
    assert "accelerate launch" in (info.value.hint or "")
    assert not (tmp_path / "runs").exists()


def test_inside_a_launch_every_process_trains(
    config: TrainConfig, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("ACCELERATE_DYNAMO_BACKEND", "NO")  # what a one-process accelerate launch sets
    run = train(config)
    assert run.status == "completed"
    info = json.loads((Path(run.artifact_path) / "training_info.json").read_text())
    assert info["distributed"] == {"enabled": True, "world_size": 1, "num_gpus": 2}
