"""Where following the guide tripped a user (issue 18), checked on the core with the shipped fakes."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
import yaml

from verifily_adapters.local_store.store import LocalArtifactStore
from verifily_core.config import TrainConfig
from verifily_core.domain.data_parsing import load_examples
from verifily_core.domain.metrics import check_metrics
from verifily_core.errors import ConfigError, DataError, EvaluationError
from verifily_core.services.training.dependencies import TrainDependencies
from verifily_core.services.training.train import train
from verifily_core.testing import ScriptedModelBackend

ROW = {"instruction": "Reverse.", "input": "a b", "output": "b a"}


def _project(tmp_path: Path, train_path: str = "../data/train.jsonl", **over: Any) -> TrainConfig:
    (tmp_path / "configs").mkdir(parents=True)
    (tmp_path / "data").mkdir()
    (tmp_path / "data" / "train.jsonl").write_text(json.dumps(ROW) + "\n")
    (tmp_path / "model").mkdir()
    (tmp_path / "model" / "config.json").write_text("{}")
    cfg = {
        "task": "sft",
        "base_model": str(tmp_path / "model"),
        "data_paths": {"train": train_path},
        "output": {"dir": str(tmp_path / "runs")},
    }
    path = tmp_path / "configs" / "train.yaml"
    path.write_text(yaml.safe_dump(cfg))
    config = TrainConfig.from_yaml(path)
    return config.apply_overrides(over) if over else config


def _deps(config: TrainConfig) -> TrainDependencies:
    return TrainDependencies(ScriptedModelBackend(), LocalArtifactStore(Path(config.output.dir)))


def test_a_missing_relative_data_file_names_the_folder_it_was_resolved_against(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)  # the file is where the user stands, the config one folder down
    config = _project(tmp_path, "data/train.jsonl")
    with pytest.raises(DataError) as caught:
        train(config, _deps(config), dry_run=True, model_check=False)
    text = str(caught.value)
    assert f"resolved against the config file's folder, {tmp_path / 'configs'}" in text
    assert "data_paths.train: data/train.jsonl" in text
    assert "../data/train.jsonl" in (caught.value.hint or "")
    assert "Fix the lines listed" not in (caught.value.hint or "")


def test_a_duplicate_json_key_is_a_data_error_naming_file_line_and_key(tmp_path: Path) -> None:
    path = tmp_path / "dup.jsonl"
    path.write_text(
        json.dumps(ROW)
        + "\n"
        + '{"instruction": "x", "output": "a", "output": "b"}\n'
        + '{"instruction": "x", "output": "a\\":b", "tags": {"k": 1}}\n'  # a ": inside a string is fine
    )
    with pytest.raises(DataError) as caught:
        load_examples(path, "sft")
    assert f"{path}:2: output: duplicate key" in str(caught.value)
    assert f"{path}:3" not in str(caught.value)


def test_managed_compute_is_refused_and_push_to_hub_is_a_recorded_notice(tmp_path: Path) -> None:
    config = _project(tmp_path / "a", **{"compute.mode": "managed"})
    with pytest.raises(ConfigError, match="compute.mode: managed"):
        train(config, _deps(config), dry_run=True, model_check=False)
    config = _project(tmp_path / "b", **{"output.push_to_hub": True})
    run = train(config, _deps(config), dry_run=True, model_check=False)
    assert any("push_to_hub" in w and "nothing is pushed" in w for w in run.warnings)
    meta = json.loads((Path(run.artifact_path) / "run_meta.json").read_text())
    assert any("push_to_hub" in w for w in meta["warnings"])


def test_the_frozen_config_writes_whole_numbers_as_integers(tmp_path: Path) -> None:
    config = _project(
        tmp_path, **{"training.num_epochs": 3, "lora.alpha": 16, "training.learning_rate": 1e-4}
    )
    frozen = yaml.safe_load(config.to_yaml())
    assert type(frozen["training"]["num_epochs"]) is int and frozen["training"]["num_epochs"] == 3
    assert type(frozen["lora"]["alpha"]) is int and frozen["training"]["learning_rate"] == 1e-4
    reread = TrainConfig.from_dict(frozen)
    assert reread.canonical_json() == config.canonical_json()  # the config hash does not move


def test_the_unknown_metric_hint_suggests_the_task_s_own_metrics() -> None:
    with pytest.raises(EvaluationError) as caught:
        check_metrics("classification", ["nosuch"])
    assert "--metrics accuracy,macro_f1" in (caught.value.hint or "")
    assert "exact_match" not in (caught.value.hint or "")


def test_a_dry_run_does_not_take_the_real_run_s_id(tmp_path: Path) -> None:
    config = _project(tmp_path, name="exp1")
    dry = train(config, _deps(config), dry_run=True, model_check=False)
    real = train(config, _deps(config))
    day = real.run_id.split("_")[1]
    assert (dry.run_id, real.run_id) == (f"dryrun_{day}_exp1", f"run_{day}_exp1")
    assert json.loads((Path(dry.artifact_path) / "run_meta.json").read_text())["status"] == "dry_run"
