"""The CLI skeleton: version, help, every flag of the guide, dry runs, errors as exit codes."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
import yaml
from typer.testing import CliRunner

from verifily_cli.app import app

runner = CliRunner()

GUIDE_FLAGS = {
    "train": "--config --base-model --task --dataset --output-dir --device --epochs --batch-size --lr "
    "--lora-r --quantization --seed --name --distributed --num-gpus --dry-run --verbose",
    "eval-cmd": "--run --test-data --metrics --slice-by --hard-examples --device --batch-size --verbose",
    "compare-cmd": "--runs --metric --slice-by --format --output",
    "reproduce": "--run --verify-only --verbose",
    "tune": "--config --param --strategy --max-trials --metric --verbose",
    "dashboard": "--runs-dir --port --share",
}


def test_version() -> None:
    result = runner.invoke(app, ["--version"])
    assert result.exit_code == 0 and result.output.strip() == "verifily, version 1.1.0"


@pytest.mark.parametrize("command", sorted(GUIDE_FLAGS))
def test_every_guide_flag_is_in_help(command: str) -> None:
    result = runner.invoke(app, [command, "--help"], env={"COLUMNS": "200"})
    assert result.exit_code == 0
    missing = [f for f in GUIDE_FLAGS[command].split() if f not in result.output]
    assert not missing, f"{command} --help lacks {missing}"


@pytest.mark.parametrize("alias", ["eval", "compare"])
def test_aliases_answer_help(alias: str) -> None:
    assert runner.invoke(app, [alias, "--help"]).exit_code == 0


@pytest.fixture()
def workspace(tmp_path: Path) -> Path:
    rows = [
        {
            "instruction": "Reverse the letters.",
            "input": f"{a} {b}",
            "output": f"{b} {a}",
            "tags": {"source": "human" if i % 2 else "synthetic"},
        }
        for i, (a, b) in enumerate(zip("abcdef", "ghijkl"))
    ]
    (tmp_path / "data").mkdir()
    (tmp_path / "data" / "train.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    (tmp_path / "model").mkdir()
    (tmp_path / "model" / "config.json").write_text(json.dumps({"model_type": "llama"}))
    cfg = {
        "task": "sft",
        "base_model": "model",
        "data_paths": {"train": "data/train.jsonl"},
        "training": {"learning_rate": "2e-4"},
        "output": {"dir": "runs/"},
    }
    (tmp_path / "train.yaml").write_text(yaml.safe_dump(cfg))
    return tmp_path


def test_dry_run_creates_the_run_folder_with_overrides(
    workspace: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(workspace.parent)  # relative paths resolve against the config's folder, not here
    result = runner.invoke(
        app,
        [
            "train",
            "--config",
            str(workspace / "train.yaml"),
            "--dry-run",
            "--no-model-check",
            "--lr",
            "5e-5",
            "--lora-r",
            "32",
            "--name",
            "drycheck",
        ],
    )
    assert result.exit_code == 0, result.output
    [run] = list((workspace / "runs").iterdir())
    assert run.name.startswith("dryrun_") and run.name.endswith("_drycheck")
    meta = json.loads((run / "run_meta.json").read_text())
    assert meta["status"] == "dry_run"
    frozen = yaml.safe_load((run / "config.yaml").read_text())
    assert frozen["training"]["learning_rate"] == 5e-5 and frozen["lora"]["r"] == 32
    assert frozen["data_paths"]["train"] == "data/train.jsonl"
    info = json.loads((run / "training_info.json").read_text())
    assert info["data_files"]["train"] == [str(workspace / "data" / "train.jsonl")]


@pytest.mark.parametrize(
    ("edit", "expected"),
    [
        (lambda cfg: cfg.update(trainig={}), "Did you mean 'training'"),
        (lambda cfg: cfg.pop("task"), "'task'"),
        (lambda cfg: cfg["training"].update(batch_size="eight"), "training.batch_size"),
        (lambda cfg: cfg.update(lora={"quantization": "3bit"}), "lora.quantization"),
        (lambda cfg: cfg["data_paths"].update(weights=[1, 2]), "data_paths.weights"),
    ],
)
def test_bad_config_is_exit_2_with_the_key_and_no_traceback(workspace: Path, edit, expected: str) -> None:
    cfg = yaml.safe_load((workspace / "train.yaml").read_text())
    edit(cfg)
    (workspace / "train.yaml").write_text(yaml.safe_dump(cfg))
    result = runner.invoke(app, ["train", "--config", str(workspace / "train.yaml"), "--dry-run"])
    assert result.exit_code == 2
    assert expected in result.output and "Traceback" not in result.output


def test_yaml_syntax_error_names_line_and_column(workspace: Path) -> None:
    (workspace / "train.yaml").write_text("task: sft\nbase_model: [unclosed\n")
    result = runner.invoke(app, ["train", "--config", str(workspace / "train.yaml"), "--dry-run"])
    assert result.exit_code == 2 and "train.yaml:" in result.output and "YAML syntax error" in result.output


def test_bad_data_line_is_named(workspace: Path) -> None:
    with (workspace / "data" / "train.jsonl").open("a") as fh:
        fh.write('{"instruction": "x"}\n')
    result = runner.invoke(app, ["train", "--config", str(workspace / "train.yaml"), "--dry-run"])
    assert result.exit_code == 2
    assert "train.jsonl:7" in result.output and "output" in result.output and "Traceback" not in result.output


def test_missing_model_folder_is_a_clear_error(workspace: Path) -> None:
    result = runner.invoke(
        app,
        [
            "train",
            "--config",
            str(workspace / "train.yaml"),
            "--dry-run",
            "--base-model",
            str(workspace / "nope"),
        ],
    )
    assert result.exit_code == 2 and "nope" in result.output and "Traceback" not in result.output


def test_missing_config_file(tmp_path: Path) -> None:
    result = runner.invoke(app, ["train", "--config", str(tmp_path / "absent.yaml")])
    assert result.exit_code == 2 and "absent.yaml" in result.output


def test_reproduce_verify_only_pass_then_fail_on_changed_data(workspace: Path) -> None:
    assert (
        runner.invoke(
            app, ["train", "--config", str(workspace / "train.yaml"), "--dry-run", "--no-model-check"]
        ).exit_code
        == 0
    )
    [run] = list((workspace / "runs").iterdir())
    ok = runner.invoke(app, ["reproduce", "--run", str(run), "--verify-only"])
    assert ok.exit_code == 0 and "Overall:          PASS" in ok.output
    with (workspace / "data" / "train.jsonl").open("a") as fh:
        fh.write(json.dumps({"instruction": "x", "output": "y"}) + "\n")
    bad = runner.invoke(app, ["reproduce", "--run", str(run), "--verify-only"])
    assert bad.exit_code == 1 and "FAIL" in bad.output and "train.jsonl" in bad.output


def test_reproduce_of_a_missing_run_is_exit_2(tmp_path: Path) -> None:
    result = runner.invoke(app, ["reproduce", "--run", str(tmp_path / "runs" / "nope"), "--verify-only"])
    assert result.exit_code == 2 and "not found" in result.output


def test_plugins_lists_the_builtins() -> None:
    result = runner.invoke(app, ["plugins", "--json"])
    assert result.exit_code == 0
    names = {p["name"] for p in json.loads(result.output)}
    assert {"hf", "local", "tensorboard", "wandb", "jsonl", "webhook"} <= names


def test_help_as_a_real_subprocess_imports_no_framework() -> None:
    code = (
        "import sys, runpy\n"
        "sys.argv = ['verifily', '--help']\n"
        "try:\n    runpy.run_module('verifily_train', run_name='__main__')\n"
        "except SystemExit as e:\n    assert not e.code, e.code\n"
        "heavy = [m for m in ('torch', 'transformers', 'peft', 'gradio', 'wandb') if m in sys.modules]\n"
        "print('HEAVY', heavy)\n"
    )
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    assert "HEAVY []" in proc.stdout and "train" in proc.stdout


def test_dry_run_without_model_check_as_a_real_subprocess_imports_no_torch(workspace: Path) -> None:
    code = (
        "import sys, runpy\n"
        f"sys.argv = ['verifily', 'train', '--config', {str(workspace / 'train.yaml')!r}, '--dry-run',"
        " '--no-model-check']\n"
        "try:\n    runpy.run_module('verifily_train', run_name='__main__')\n"
        "except SystemExit as e:\n    assert not e.code, e.code\n"
        "print('TORCH', 'torch' in sys.modules)\n"
    )
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    assert "TORCH False" in proc.stdout


def test_a_run_that_fails_before_training_leaves_a_failed_run_folder(workspace: Path) -> None:
    result = runner.invoke(
        app,
        [
            "train",
            "--config",
            str(workspace / "train.yaml"),
            "--base-model",
            str(workspace / "no-such-model"),
        ],
    )
    assert result.exit_code == 2 and "no-such-model" in result.output and "Traceback" not in result.output
    [run] = list((workspace / "runs").iterdir())
    meta = json.loads((run / "run_meta.json").read_text())
    assert meta["status"] == "failed" and "no-such-model" in meta["error"]
