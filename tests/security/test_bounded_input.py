"""Security suite, hostile input: YAML alias bombs are refused wherever YAML is read, data validation
streams in bounded memory, and inputs that used to end in "Internal error" are clear exit-2 errors."""

from __future__ import annotations

import json
import resource
import subprocess
import sys
from pathlib import Path
from typing import Any, Dict, List

import pytest
import yaml
from typer.testing import CliRunner

from verifily_adapters.local_store.store import LocalArtifactStore
from verifily_cli.app import app
from verifily_core.config.yaml_load import MAX_NODES, YamlTooLargeError, safe_load
from verifily_core.errors import EvaluationError
from verifily_core.services.evaluation.settings import resolve_settings

runner = CliRunner()
BOMB = "\n".join(
    [
        'a: &a ["lol","lol","lol","lol","lol","lol","lol","lol","lol"]',
        *(f"{c}: &{c} [{','.join([f'*{p}'] * 9)}]" for p, c in zip("abcdefgh", "bcdefghi")),
    ]
)  # nine levels of nine aliases: 9**9 (387 million) strings once expanded


@pytest.fixture(scope="module")
def tiny_model(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A model folder that passes the framework-free checks (nothing here loads weights)."""
    path = tmp_path_factory.mktemp("model") / "tiny"
    path.mkdir()
    (path / "config.json").write_text(json.dumps({"model_type": "llama"}))
    return path


def _rows(n: int) -> str:
    return "".join(
        json.dumps({"instruction": "Reverse.", "input": f"a {i}", "output": f"{i} a"}) + "\n"
        for i in range(n)
    )


def _config(root: Path, model: Path, **extra: Any) -> Path:
    (root / "train.jsonl").write_text(_rows(12))
    config: Dict[str, Any] = {
        "task": "sft",
        "base_model": str(model),
        "data_paths": {"train": "train.jsonl"},
        "output": {"dir": "runs"},
        **extra,
    }
    (root / "train.yaml").write_text(yaml.safe_dump(config))
    return root / "train.yaml"


def _short_clear_error(result: Any) -> str:
    text = result.output
    assert result.exit_code == 2, text
    assert "Traceback" not in text and "Internal error" not in text
    assert len(text) < 1000, f"{len(text)} characters of error"
    return str(text)


# ---------------------------------------------------------------------- alias bombs


def test_the_loader_refuses_a_bomb_and_keeps_ordinary_anchors() -> None:
    with pytest.raises(YamlTooLargeError, match=f"more than {MAX_NODES:,} nodes"):
        safe_load(BOMB)
    with pytest.raises(YamlTooLargeError, match="recursive"):
        safe_load("a: &a [*a]")
    assert safe_load("base: &b {r: 8}\nlora: *b\n") == {"base": {"r": 8}, "lora": {"r": 8}}


def test_a_bomb_in_the_training_config_is_one_short_line(tmp_path: Path) -> None:
    (tmp_path / "train.yaml").write_text(BOMB)
    result = runner.invoke(app, ["train", "--config", str(tmp_path / "train.yaml"), "--dry-run"])
    assert "alias bomb" in _short_clear_error(result)


def test_a_bomb_in_a_set_override_stays_a_plain_string(tmp_path: Path, tiny_model: Path) -> None:
    config = _config(tmp_path, tiny_model)
    args = ["train", "--config", str(config), "--dry-run", "--no-model-check", "--set", f"name={BOMB}"]
    result = runner.invoke(app, args)
    assert "Traceback" not in result.output and len(result.output) < 2000


def _evaluated_run(root: Path, name: str, config_text: str) -> Path:
    store = LocalArtifactStore(root)
    run_id = store.create_run(name).run_id
    store.write_json(run_id, "run_meta.json", {"run_id": run_id, "status": "completed", "task": "sft"})
    store.write_json(run_id, "training_info.json", {"task": "sft", "base_model": "tiny"})
    store.write_text(run_id, "config.yaml", config_text)
    overall = {"exact_match": 0.5, "f1": 0.7}
    results = {"run_id": run_id, "num_examples": 10, "overall": overall, "slices": {}, "hard_examples": []}
    store.write_json(run_id, "eval/eval_results.json", results)
    return root / run_id


def test_a_bomb_in_a_run_folders_frozen_config(tmp_path: Path) -> None:
    """compare-cmd reads both runs' config.yaml (once: 12 GB); resume and eval read it too."""
    good = _evaluated_run(tmp_path / "runs", "good", yaml.safe_dump({"task": "sft", "base_model": "tiny"}))
    bad = _evaluated_run(tmp_path / "runs", "bombed", BOMB)
    result = runner.invoke(app, ["compare-cmd", "--runs", f"{good},{bad}", "--bootstrap", "0"])
    assert "alias bomb" in _short_clear_error(result) and "config.yaml" in result.output
    meta = json.loads((bad / "run_meta.json").read_text())
    (bad / "run_meta.json").write_text(
        json.dumps({**meta, "status": "interrupted", "base_model": "tiny", "seed": 1, "started_at": ""})
    )
    (bad / "training_info.json").write_text(json.dumps({"task": "sft", "backend": "hf", "data_files": {}}))
    result = runner.invoke(app, ["train", "--resume", str(bad)])
    assert "alias bomb" in _short_clear_error(result)


# ---------------------------------------------------------------------- streaming validation


def test_dry_run_validation_streams_a_large_file(tmp_path: Path, tiny_model: Path) -> None:
    """Peak memory of a --no-model-check dry run grows far less than the data file: rows are checked
    one line at a time (1 GB measured at 61 MB peak RSS; holding the examples took 5.5 GB)."""
    config = _config(tmp_path, tiny_model)

    def dry_run(timeout: float) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, "-m", "verifily_train", "train", "--config", str(config), "--dry-run"]
            + ["--no-model-check"],
            cwd=tmp_path,
            capture_output=True,
            text=True,
            timeout=timeout,
        )

    small = dry_run(120)
    assert small.returncode == 0, small.stderr
    baseline_kb = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    line = _rows(1)
    with (tmp_path / "train.jsonl").open("w") as fh:  # ~100 MB, a bad row at the very end
        chunk = line * 20_000
        for _ in range(100 * 2**20 // len(chunk)):
            fh.write(chunk)
        fh.write('{"instruction": "no output"}\n')
    size_mb = (tmp_path / "train.jsonl").stat().st_size / 2**20
    big = dry_run(300)
    assert big.returncode == 2 and "output" in big.stderr, big.stderr  # the last line was still checked
    peak_kb = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    growth_mb = (peak_kb - baseline_kb) / 1024
    assert size_mb > 95 and growth_mb < size_mb / 4, f"{growth_mb:.0f} MB more for a {size_mb:.0f} MB file"


# ---------------------------------------------------------------------- clear errors instead of internal ones


def test_compare_output_naming_a_folder(tmp_path: Path) -> None:
    runs = [_evaluated_run(tmp_path / "runs", n, yaml.safe_dump({"task": "sft"})) for n in ("a", "b")]
    (tmp_path / "out").mkdir()
    args = [
        "compare-cmd",
        "--runs",
        ",".join(map(str, runs)),
        "--bootstrap",
        "0",
        "--output",
        str(tmp_path / "out"),
    ]
    assert "is a folder" in _short_clear_error(runner.invoke(app, args))


@pytest.mark.parametrize("device", ["bogus", "cuda:x", "gpu"])
def test_eval_device_is_checked_before_anything_is_loaded_or_reused(device: str) -> None:
    with pytest.raises(EvaluationError, match="is not a device"):
        resolve_settings({"task": "sft"}, None, device=device)
    assert resolve_settings({"task": "sft"}, None, device="cuda:1").device == "cuda:1"


def test_tune_refuses_an_invalid_later_combination_before_any_trial(tmp_path: Path, tiny_model: Path) -> None:
    config = _config(tmp_path, tiny_model)
    args = ["tune", "--config", str(config), "--param", "data_paths.train=train.jsonl,missing.jsonl"]
    text = _short_clear_error(runner.invoke(app, [*args, "--metric", "train_loss"]))
    assert "missing.jsonl" in text and "'data_paths.train': 'missing.jsonl'" in text
    assert not list((tmp_path / "runs").glob("run_*")) if (tmp_path / "runs").exists() else True


def test_attribute_fails_when_no_ablation_finished(tmp_path: Path) -> None:
    from verifily_core.config import TrainConfig
    from verifily_core.errors import AttributionError, BackendError
    from verifily_core.services.attribution.attribute import attribute
    from verifily_core.services.attribution.types import AttributeSettings
    from verifily_core.services.training.dependencies import TrainDependencies
    from verifily_core.testing import ScriptedModelBackend

    rows: List[str] = []
    for i in range(8):
        source = "human" if i % 2 else "synthetic"
        rows.append(
            json.dumps({"instruction": "R.", "input": f"a {i}", "output": f"{i} a", "tags": {"src": source}})
        )
    (tmp_path / "train.jsonl").write_text("\n".join(rows) + "\n")
    (tmp_path / "test.jsonl").write_text("\n".join(rows[:4]) + "\n")
    (tmp_path / "model").mkdir()
    (tmp_path / "model" / "config.json").write_text("{}")
    data = {
        "task": "sft",
        "base_model": "model",
        "data_paths": {"train": "train.jsonl", "test": "test.jsonl"},
    }
    (tmp_path / "train.yaml").write_text(yaml.safe_dump({**data, "output": {"dir": "runs"}}))
    config = TrainConfig.from_yaml(tmp_path / "train.yaml")

    class AblationsFail(ScriptedModelBackend):
        def train(self, request: Any, callbacks: Any) -> Any:
            if len({e.tags.get("src") for e in request.train_examples}) < 2:
                raise BackendError("injected: this ablation cannot train")
            return super().train(request, callbacks)

    store = LocalArtifactStore(tmp_path / "runs")

    def deps(cfg: TrainConfig) -> TrainDependencies:
        return TrainDependencies(AblationsFail(), store)

    with pytest.raises(AttributionError, match="No ablation run finished.*injected") as failed:
        attribute(config, AttributeSettings(by="src", n_boot=10), store=store, deps_factory=deps)
    assert failed.value.exit_code != 0
