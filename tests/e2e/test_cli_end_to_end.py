"""The product's main path on a real tiny model, through the CLI: train → eval → compare → reproduce."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Dict

import pytest
import yaml
from typer.testing import CliRunner

from verifily_cli.app import app
from verifily_cli.demo.workspace import reverse_rows

pytestmark = pytest.mark.slow
runner = CliRunner()


def _jsonl(path: Path, rows: Any) -> None:
    path.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")


@pytest.fixture(scope="module")
def workspace(tmp_path_factory: pytest.TempPathFactory) -> Path:
    from verifily_adapters.hf_backend.tiny import build_tiny_causal_lm

    root = tmp_path_factory.mktemp("e2e")
    build_tiny_causal_lm(root / "tiny")
    _jsonl(root / "train_a.jsonl", reverse_rows(48, 1))
    _jsonl(root / "train_b.jsonl", reverse_rows(48, 2))
    _jsonl(root / "test.jsonl", reverse_rows(12, 3))
    return root


def _config(root: Path, train: str, name: str) -> Path:
    cfg: Dict[str, Any] = {
        "task": "sft",
        "base_model": "tiny",
        "seed": 3,
        "name": name,
        "data_paths": {"train": train, "test": "test.jsonl"},
        "training": {
            "num_epochs": 1,
            "batch_size": 8,
            "gradient_accumulation_steps": 1,
            "learning_rate": 5e-3,
            "lr_scheduler": "constant",
            "warmup_ratio": 0.0,
            "max_seq_length": 64,
            "logging_steps": 2,
            "save_steps": 3,
            "save_total_limit": 1,
        },
        "lora": {
            "r": 8,
            "dropout": 0.0,
            "target_modules": "all-linear",
            "modules_to_save": ["embed_tokens", "lm_head"],
        },
        "compute": {"device": "cpu", "bf16": False},
        "eval": {
            "slice_by_tags": ["difficulty"],
            "hard_examples": 3,
            "batch_size": 8,
            "generation_max_new_tokens": 10,
            "generation_num_beams": 1,
        },
        "output": {"dir": "runs"},
    }
    path = root / f"{name}.yaml"
    path.write_text(yaml.safe_dump(cfg))
    return path


def _run(*args: str) -> Any:
    result = runner.invoke(app, list(args), env={"COLUMNS": "200"})
    assert "Traceback" not in result.output
    return result


def test_train_eval_compare_reproduce(workspace: Path) -> None:
    a = _run("train", "--config", str(_config(workspace, "train_a.jsonl", "e2e_a")))
    assert a.exit_code == 0, a.output
    assert "Run completed: run_" in a.output and "Repro hash:  sha256:" in a.output
    assert "Evaluated on the test set" in a.output and "Run `verifily eval" not in a.output
    run_a = (
        workspace / "runs" / next(p.name for p in (workspace / "runs").iterdir() if p.name.endswith("e2e_a"))
    )
    results = json.loads((run_a / "eval" / "eval_results.json").read_text())
    assert {"exact_match", "f1", "perplexity"} <= set(results["overall"])
    assert set(results["slices"]["difficulty"]) <= {"easy", "hard"}
    summary = json.loads((run_a / "train_summary.json").read_text())
    assert summary["global_step"] == 6 and summary["tokens_processed"] > 0

    b = _run("train", "--config", str(_config(workspace, "train_b.jsonl", "e2e_b")))
    assert b.exit_code == 0, b.output
    run_b = next(p for p in (workspace / "runs").iterdir() if p.name.endswith("e2e_b"))

    ev = _run("eval-cmd", "--run", str(run_a), "--slice-by", "source,difficulty", "--hard-examples", "4")
    assert ev.exit_code == 0, ev.output
    assert "Sliced by [source]:" in ev.output and "source=human (n=" in ev.output
    assert len((run_a / "eval" / "hard_examples.jsonl").read_text().splitlines()) == 4

    cmp = _run("compare-cmd", "--runs", f"{run_a},{run_b}", "--slice-by", "difficulty", "--format", "json")
    assert cmp.exit_code == 0, cmp.output
    data = json.loads(cmp.output)
    assert data["metric"] == "f1" and "data_paths.train" in data["config_diff"]

    ok = _run("reproduce", "--run", str(run_a), "--verify-only")
    assert ok.exit_code == 0 and "Overall:          PASS" in ok.output

    full = _run("reproduce", "--run", str(run_a), "--json")
    assert full.exit_code == 0, full.output
    report = json.loads(full.output[full.output.index("{") :])
    assert report["verdict"] == "PASS" and report["checks"]["weights"] == "PASS", report

    adapter = run_a / "adapter" / "adapter_model.safetensors"
    adapter.write_bytes(adapter.read_bytes()[:-1] + b"\x00")
    tampered = _run("reproduce", "--run", str(run_a), "--verify-only")
    assert tampered.exit_code == 1 and "adapter_model.safetensors" in tampered.output


def test_python_train_prints_nothing_even_with_wandb_offline(workspace: Path) -> None:
    """The guide's train() never prints: transformers' import-time notice is kept off stdout too."""
    import os
    import subprocess
    import sys

    code = (
        "import contextlib, io\n"
        "from verifily_train import TrainConfig, train\n"
        f"cfg = TrainConfig.from_yaml({str(_config(workspace, 'train_a.jsonl', 'quiet'))!r})\n"
        "cfg = cfg.apply_overrides({'eval.enabled': False, 'training.num_epochs': 0.2})\n"
        "buf = io.StringIO()\n"
        "with contextlib.redirect_stdout(buf):\n"
        "    run = train(cfg)\n"
        "print(repr(buf.getvalue()), run.status)\n"
    )
    # as a user runs it: no TRANSFORMERS_VERBOSITY or PYTHONWARNINGS (the test session sets them)
    env = {k: v for k, v in os.environ.items() if k not in ("TRANSFORMERS_VERBOSITY", "PYTHONWARNINGS")}
    env.update(WANDB_MODE="offline", HF_HUB_OFFLINE="1")
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, timeout=300)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip() == "'' completed"
    assert proc.stderr == ""  # no bitsandbytes, FutureWarning or tokenizer notices either
