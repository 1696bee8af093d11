"""Distributed training on 2 CPU processes (gloo) through Accelerate, as CI can run it.

Each test launches real processes on the tiny causal model; data and steps are kept tiny.
"""

from __future__ import annotations

import glob
import json
import os
import subprocess
import sys
import time
from pathlib import Path
from typing import Any, Dict, List

import pytest
import yaml

from verifily_cli.demo.workspace import reverse_rows
from verifily_core.domain import distributed

pytestmark = pytest.mark.slow
TIMEOUT_S = 600


def _jsonl(path: Path, rows: Any) -> None:
    path.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")


@pytest.fixture(scope="module")
def workspace(tmp_path_factory: pytest.TempPathFactory) -> Path:
    from verifily_adapters.hf_backend.tiny import build_tiny_causal_lm

    root = tmp_path_factory.mktemp("dist")
    build_tiny_causal_lm(root / "tiny")
    _jsonl(root / "train.jsonl", reverse_rows(32, 1))
    return root


def _config(root: Path, name: str) -> Path:
    cfg: Dict[str, Any] = {
        "task": "sft",
        "base_model": "tiny",
        "seed": 3,
        "name": name,
        "data_paths": {"train": "train.jsonl"},
        "training": {
            "num_epochs": 2,
            "batch_size": 4,
            "gradient_accumulation_steps": 1,
            "learning_rate": 5e-3,
            "lr_scheduler": "constant",
            "warmup_ratio": 0.0,
            "max_seq_length": 48,
            "logging_steps": 1,
            "save_steps": 100,
            "save_total_limit": 1,
        },
        "lora": {"r": 8, "dropout": 0.0, "target_modules": "all-linear"},
        "compute": {"device": "cpu", "bf16": False},
        "eval": {"enabled": False},
        "output": {"dir": f"runs-{name}"},
    }
    path = root / f"{name}.yaml"
    path.write_text(yaml.safe_dump(cfg))
    return path


def _launch(cmd: List[str], cwd: Path, **env: str) -> subprocess.CompletedProcess:
    full_env = {**os.environ, "OMP_NUM_THREADS": "1", **env}
    for key in (*distributed.LAUNCHER_ENV_KEYS, "RANK", "WORLD_SIZE"):
        full_env.pop(key, None)
    return subprocess.run(cmd, cwd=cwd, env=full_env, capture_output=True, text=True, timeout=TIMEOUT_S)


def _run_folders(runs: Path) -> List[Path]:
    return sorted({Path(p).parent for p in glob.glob(f"{runs}/*/run_meta.json")})


def _check_distributed_run(runs: Path, base: Path) -> Path:
    folders = _run_folders(runs)
    assert len(folders) == 1, f"only the main process creates a run folder: {folders}"
    run = folders[0]
    assert json.loads((run / "run_meta.json").read_text())["status"] == "completed"
    summary = json.loads((run / "train_summary.json").read_text())
    assert summary["world_size"] == 2
    assert summary["per_device_batch_size"] == 4
    assert summary["global_batch_size"] == 8
    assert json.loads((run / "training_info.json").read_text())["distributed"]["world_size"] == 2
    history = _logged_losses(run)
    assert history[-1] < history[0], f"loss did not fall: {history}"
    assert not list(runs.glob(".launch-*")), "the rendezvous file is left behind"
    from peft import PeftModel
    from transformers import AutoModelForCausalLM

    PeftModel.from_pretrained(AutoModelForCausalLM.from_pretrained(base), str(run / "adapter"))
    return run


def _logged_losses(run: Path) -> List[float]:
    state = sorted(run.glob("checkpoints/checkpoint-*/trainer_state.json"))
    assert state, "no checkpoint with a trainer_state.json to read the loss history from"
    return [e["loss"] for e in json.loads(state[-1].read_text())["log_history"] if "loss" in e]


def test_cli_flag_runs_two_cpu_processes(workspace: Path) -> None:
    cfg = _config(workspace, "flag")
    single = _launch(
        [
            sys.executable,
            "-m",
            "verifily_train.cli",
            "train",
            "--config",
            str(cfg),
            "--dry-run",
            "--output-dir",
            str(workspace / "runs-single"),
        ],
        workspace,
    )
    assert single.returncode == 0, single.stderr[-3000:]
    result = _launch(
        [
            sys.executable,
            "-m",
            "verifily_train.cli",
            "train",
            "--config",
            str(cfg),
            "--distributed",
            "--num-gpus",
            "2",
        ],
        workspace,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    assert "on the CPU (gloo)" in result.stderr
    assert result.stdout.count("Run completed:") == 1
    run = _check_distributed_run(workspace / "runs-flag", workspace / "tiny")
    (dry,) = _run_folders(workspace / "runs-single")
    hashes = json.loads((run / "hashes.json").read_text())
    assert hashes["data_hash"] == json.loads((dry / "hashes.json").read_text())["data_hash"]


def test_direct_accelerate_launch(workspace: Path) -> None:
    cfg = _config(workspace, "direct")
    result = _launch(
        [
            sys.executable,
            "-m",
            "accelerate.commands.launch",
            "--multi_gpu",
            "--num_processes",
            "2",
            "--num_machines",
            "1",
            "--mixed_precision",
            "no",
            "--dynamo_backend",
            "no",
            "-m",
            "verifily_train.cli",
            "train",
            "--config",
            str(cfg),
        ],
        workspace,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    _check_distributed_run(workspace / "runs-direct", workspace / "tiny")


def test_crash_in_rank_one_fails_the_run(workspace: Path) -> None:
    cfg = _config(workspace, "crash")
    started = time.monotonic()
    result = _launch(
        [
            sys.executable,
            "-m",
            "verifily_train.cli",
            "train",
            "--config",
            str(cfg),
            "--distributed",
            "--num-gpus",
            "2",
        ],
        workspace,
        VERIFILY_TEST_CRASH_RANK="1",
    )
    assert result.returncode != 0
    assert time.monotonic() - started < TIMEOUT_S
    (run,) = _run_folders(workspace / "runs-crash")
    meta = json.loads((run / "run_meta.json").read_text())
    assert meta["status"] == "failed"
    assert "injected crash in rank 1" in meta["error"]
