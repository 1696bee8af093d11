"""``reproduce --verify-only`` as a use case (services.reproduction.verify) on a hand-made run."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Dict, Tuple

import pytest

from verifily_adapters.local_store.store import LocalArtifactStore
from verifily_core.config import TrainConfig
from verifily_core.domain.hashchain import HashChain
from verifily_core.domain.model_digest import hash_base_model, local_model_source
from verifily_core.domain.runs import CONFIG_FILE, ENVIRONMENT, HASHES, RUN_META, TRAINING_INFO
from verifily_core.errors import RunNotFoundError, StoreError
from verifily_core.services.reproduction.verify import report_lines, verify
from verifily_core.services.run_folder.seal import seal_run

ENV = {"python": "3.11.9", "torch": "2.13.0", "device": "cpu"}


def _make_run(tmp_path: Path) -> Tuple[LocalArtifactStore, str, Dict[str, Path]]:
    """A completed run as the train service leaves it: frozen config, info, env, outputs, hashes."""
    data = tmp_path / "data"
    data.mkdir()
    files = {name: data / f"{name}.jsonl" for name in ("sft_train", "sft_extra", "sft_val")}
    for name, path in files.items():
        path.write_text(f'{{"instruction": "{name}", "output": "x"}}\n')
    model = tmp_path / "model"
    model.mkdir()
    (model / "config.json").write_text("{}")
    config = TrainConfig.from_dict(
        {
            "task": "sft",
            "base_model": str(model),
            "seed": 42,
            "data_paths": {
                "train": ["data/sft_train.jsonl", "data/sft_extra.jsonl"],
                "val": "data/sft_val.jsonl",
            },
        },
        source=tmp_path / "train.yaml",
    )
    store = LocalArtifactStore(tmp_path / "runs")
    run = store.create_run()
    store.write_text(run.run_id, CONFIG_FILE, config.to_yaml())
    data_files = {
        "train": [str(files["sft_train"]), str(files["sft_extra"])],
        "val": str(files["sft_val"]),
        "test": None,
    }
    info = {"task": "sft", "data_files": data_files, "base_model_path": str(model), "seed": 42}
    store.write_json(run.run_id, TRAINING_INFO, info)
    store.write_json(run.run_id, ENVIRONMENT, ENV)
    store.write_text(run.run_id, "adapter/adapter_model.safetensors", "weights")
    store.write_text(run.run_id, "tokenizer/tokenizer.json", "{}")
    store.write_json(run.run_id, "eval/eval_results.json", {"overall": {"f1": 0.5}})
    store.write_text(run.run_id, "checkpoints/checkpoint-1/w.bin", "scratch")
    chain = HashChain.build(
        config, ENV, base_model=hash_base_model(str(model), local_model_source(str(model)))
    )
    store.write_json(
        run.run_id, RUN_META, {"status": "completed", "seed": 42, "config_hash": chain.config_hash}
    )
    seal_run(store, run.run_id, chain)
    return store, run.run_id, files


def test_untouched_run_passes_with_the_guides_report(tmp_path: Path) -> None:
    store, run_id, _ = _make_run(tmp_path)
    result = verify(store, run_id, environment=ENV)
    assert result.verdict == "PASS"
    assert result.checks == {
        "config_hash": "PASS",
        "data_hash": "PASS",
        "environment_hash": "PASS",
        "base_model": "PASS",
        "reproducibility_hash": "PASS",
        "artifacts": "PASS",
        "run_status": "PASS",
    }
    lines = report_lines(result)
    assert lines[0] == f"Reproducibility check: {run_id}"
    assert re.fullmatch(r"  Config hash:      PASS \(sha256:[0-9a-f]{12}\.\.\.\)", lines[1])
    assert re.fullmatch(r"  Data hash:        PASS \(sha256:[0-9a-f]{12}\.\.\.\)", lines[2])
    assert re.fullmatch(r"  Environment hash: PASS \(sha256:[0-9a-f]{12}\.\.\.\)", lines[3])
    assert lines[4] == "  Base model:       PASS"
    assert lines[5] == "  Repro hash:       PASS"
    # every file of the folder: config, environment, training info, run_meta, outputs, checkpoint
    assert lines[6] == "  Artifacts:        PASS (8 files)"
    assert lines[7] == "  Run status:       PASS"
    assert lines[8] == "  Overall:          PASS"


def test_new_environment_warns_and_still_passes(tmp_path: Path) -> None:
    store, run_id, _ = _make_run(tmp_path)
    result = verify(store, run_id, environment={**ENV, "torch": "2.14.0"})
    assert result.verdict == "PASS" and result.warnings == ["torch: 2.13.0 -> 2.14.0"]
    lines = report_lines(result)
    short = r"sha256:[0-9a-f]{12}\.\.\."
    assert re.fullmatch(rf"  Environment hash: WARN \({short} != {short}\)", lines[3])
    assert lines[4] == "    torch: 2.13.0 -> 2.14.0"
    assert lines[-1] == "  Overall:          PASS (with warnings)"


@pytest.mark.parametrize("name", ["sft_train", "sft_extra", "sft_val"])
def test_each_changed_data_file_fails_naming_it(tmp_path: Path, name: str) -> None:
    store, run_id, files = _make_run(tmp_path)
    with files[name].open("a") as fh:
        fh.write('{"instruction": "new", "output": "row"}\n')
    result = verify(store, run_id, environment=ENV)
    assert result.verdict == "FAIL" and result.checks["data_hash"] == "FAIL"
    assert result.checks["config_hash"] == "PASS"
    report = "\n".join(report_lines(result))
    assert f"data file changed: {files[name]}" in report and "  Overall:          FAIL" in report
    assert [line for line in result.details if name in line] == result.details


def test_data_restored_byte_for_byte_passes_again(tmp_path: Path) -> None:
    store, run_id, files = _make_run(tmp_path)
    original = files["sft_train"].read_bytes()
    files["sft_train"].write_bytes(original + b"\n")
    assert verify(store, run_id, environment=ENV).verdict == "FAIL"
    files["sft_train"].write_bytes(original)
    assert verify(store, run_id, environment=ENV).verdict == "PASS"


def test_missing_data_file_fails_naming_it(tmp_path: Path) -> None:
    store, run_id, files = _make_run(tmp_path)
    files["sft_val"].unlink()
    result = verify(store, run_id, environment=ENV)
    assert result.verdict == "FAIL"
    assert result.details == [f"val data file missing: {files['sft_val']}"]


def test_hand_edited_config_fails_naming_config_yaml(tmp_path: Path) -> None:
    store, run_id, _ = _make_run(tmp_path)
    text = store.read_text(run_id, CONFIG_FILE)
    store.write_text(run_id, CONFIG_FILE, text.replace("seed: 42", "seed: 43"))
    result = verify(store, run_id, environment=ENV)
    assert result.verdict == "FAIL" and result.checks["config_hash"] == "FAIL"
    assert result.checks["data_hash"] == "PASS"
    assert any(line.startswith("    config.yaml changed") for line in report_lines(result))


def test_config_that_no_longer_parses_fails_naming_config_yaml(tmp_path: Path) -> None:
    store, run_id, _ = _make_run(tmp_path)
    store.write_text(run_id, CONFIG_FILE, store.read_text(run_id, CONFIG_FILE) + "lernin_rate: [\n")
    result = verify(store, run_id, environment=ENV)
    assert result.verdict == "FAIL"
    assert result.details[0].startswith("config.yaml is no longer a valid config:")
    store.write_text(run_id, CONFIG_FILE, "task: sft\nbase_model: tiny\nsed: 1\n")
    assert "Unknown config key 'sed'" in verify(store, run_id, environment=ENV).details[0]


def test_deleted_config_fails_naming_config_yaml(tmp_path: Path) -> None:
    store, run_id, _ = _make_run(tmp_path)
    (store.local_dir(run_id) / CONFIG_FILE).unlink()
    result = verify(store, run_id, environment=ENV)
    assert result.details == ["config.yaml is missing", "file missing: config.yaml"]
    line = report_lines(result)[1]
    assert re.fullmatch(r"  Config hash:      FAIL \(sha256:[0-9a-f]{12}\.\.\. != missing\)", line)


@pytest.mark.parametrize(
    "relpath", ["adapter/adapter_model.safetensors", "tokenizer/tokenizer.json", "eval/eval_results.json"]
)
def test_each_tampered_artifact_fails_naming_it(tmp_path: Path, relpath: str) -> None:
    store, run_id, _ = _make_run(tmp_path)
    store.write_text(run_id, relpath, "tampered")
    result = verify(store, run_id, environment=ENV)
    assert result.verdict == "FAIL" and result.checks["artifacts"] == "FAIL"
    assert result.details[0].startswith(f"file changed: {relpath}: recorded sha256:")
    assert "  Artifacts:        FAIL (1 difference; 8 files sealed)" in report_lines(result)


def test_deleted_artifact_and_changed_checkpoint_fail(tmp_path: Path) -> None:
    store, run_id, _ = _make_run(tmp_path)
    store.write_text(run_id, "checkpoints/checkpoint-1/w.bin", "changed scratch")
    assert (
        verify(store, run_id, environment=ENV)
        .details[0]
        .startswith("file changed: checkpoints/checkpoint-1/w.bin")
    )
    store.write_text(run_id, "checkpoints/checkpoint-1/w.bin", "scratch")
    (store.local_dir(run_id) / "tokenizer" / "tokenizer.json").unlink()
    assert verify(store, run_id, environment=ENV).details == ["file missing: tokenizer/tokenizer.json"]


def test_run_without_hashes_json_is_a_clear_store_error(tmp_path: Path) -> None:
    store, run_id, _ = _make_run(tmp_path)
    (store.local_dir(run_id) / HASHES).unlink()
    with pytest.raises(StoreError, match=f"Run {run_id} has no hashes.json"):
        verify(store, run_id, environment=ENV)


def test_unknown_run_is_run_not_found(tmp_path: Path) -> None:
    store, _, _ = _make_run(tmp_path)
    with pytest.raises(RunNotFoundError):
        verify(store, "run_nope", environment=ENV)


def test_training_info_without_data_files_fails_naming_it(tmp_path: Path) -> None:
    store, run_id, _ = _make_run(tmp_path)
    store.write_json(run_id, TRAINING_INFO, {"task": "sft"})
    result = verify(store, run_id, environment=ENV)
    assert result.verdict == "FAIL"
    assert "training_info.json: data_files differ from the files hashes.json hashed" in result.details
    assert any(line.startswith("file changed: training_info.json") for line in result.details)
