"""The product's main path on a real tiny model, through the CLI: train → eval → compare → reproduce."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from helpers.cli import invoke as _run
from helpers.data import reverse_rows
from helpers.runs import tiny_sft_config, tiny_workspace, write_config

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def workspace(tmp_path_factory: pytest.TempPathFactory) -> Path:
    rows = {"train_a": reverse_rows(48, 1), "train_b": reverse_rows(48, 2), "test": reverse_rows(12, 3)}
    return tiny_workspace(tmp_path_factory.mktemp("e2e"), **rows)


def _config(root: Path, train: str, name: str) -> Path:
    config = tiny_sft_config(
        name=name,
        data_paths={"train": train, "test": "test.jsonl"},
        training={"logging_steps": 2, "save_steps": 3, "save_total_limit": 1},
        lora={"r": 8, "modules_to_save": ["embed_tokens", "lm_head"]},
        eval={
            "slice_by_tags": ["difficulty"],
            "hard_examples": 3,
            "batch_size": 8,
            "generation_max_new_tokens": 10,
            "generation_num_beams": 1,
        },
    )
    return write_config(root / f"{name}.yaml", config)


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
