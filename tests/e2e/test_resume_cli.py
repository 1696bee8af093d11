"""`verifily train` killed with SIGKILL after its first checkpoint, then `--resume`: same result as a
run that was never interrupted (within 1e-6 on CPU fp32), in the same run folder.

The killed run is shown as ``interrupted``; a partial newest checkpoint (what a kill during a
checkpoint write leaves) and leftover temp files do not stop the resume; a second ``--resume`` while
the first one trains is refused (exit 2) and the usage is counted once."""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import yaml

from verifily_adapters.local_store.store import LocalArtifactStore
from verifily_cli.dashboard.data import run_rows
from verifily_cli.demo.workspace import reverse_rows
from verifily_core.services.training.run_lock import run_status

pytestmark = pytest.mark.slow


def _write_config(root: Path, name: str) -> Path:
    cfg = {
        "task": "sft",
        "base_model": "tiny",
        "seed": 5,
        "name": name,
        "data_paths": {"train": "train.jsonl"},
        "training": {
            "num_epochs": 6,
            "batch_size": 4,
            "gradient_accumulation_steps": 1,
            "learning_rate": 5e-3,
            "lr_scheduler": "linear",
            "warmup_ratio": 0.0,
            "max_seq_length": 64,
            "logging_steps": 3,
            "save_steps": 3,
            "save_total_limit": 1,
        },
        "lora": {"r": 4, "dropout": 0.0, "target_modules": "all-linear"},
        "compute": {"device": "cpu", "bf16": False},
        "eval": {"enabled": False},
        "output": {"dir": "runs"},
    }
    path = root / f"{name}.yaml"
    path.write_text(yaml.safe_dump(cfg))
    return path


def _cli(*args: str, cwd: Path) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "verifily_train", *args],
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=600,
        env={**os.environ, "HF_HUB_OFFLINE": "1"},
    )


def _run_dir(root: Path, name: str) -> Path:
    [run] = [p for p in (root / "runs").iterdir() if p.name.endswith(name)]
    return run


def _owned_by(run: Path, pid: int) -> bool:
    try:
        return bool(json.loads((run / ".heartbeat.json").read_text())["pid"] == pid)
    except (OSError, ValueError, KeyError):
        return False


def test_sigkill_after_a_checkpoint_then_resume_matches_an_uninterrupted_run(tmp_path: Path) -> None:
    from verifily_adapters.hf_backend.tiny import build_tiny_causal_lm

    build_tiny_causal_lm(tmp_path / "tiny")
    (tmp_path / "train.jsonl").write_text("".join(json.dumps(r) + "\n" for r in reverse_rows(40, 9)))

    whole = _cli("train", "--config", str(_write_config(tmp_path, "whole")), cwd=tmp_path)
    assert whole.returncode == 0, whole.stderr
    expected = json.loads((_run_dir(tmp_path, "whole") / "run_meta.json").read_text())["metrics"][
        "train_loss"
    ]

    proc = subprocess.Popen(
        [sys.executable, "-m", "verifily_train", "train", "--config", str(_write_config(tmp_path, "killed"))],
        cwd=tmp_path,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    deadline = time.monotonic() + 300
    checkpoint = None
    while time.monotonic() < deadline and proc.poll() is None:
        found = list(tmp_path.glob("runs/*killed/checkpoints/checkpoint-*/trainer_state.json"))
        if found:
            checkpoint = found[0]
            break
        time.sleep(0.02)
    proc.send_signal(signal.SIGKILL)
    proc.wait(timeout=30)
    assert checkpoint is not None, "no checkpoint appeared before the run ended"
    run = _run_dir(tmp_path, "killed")
    meta = json.loads((run / "run_meta.json").read_text())
    assert meta["status"] == "running", "the run finished before it could be killed"

    store = LocalArtifactStore(run.parent)
    assert run_status(store, run.name, "running") == "interrupted"
    assert [r.status for r in run_rows(store) if r.run_id == run.name] == ["interrupted"]
    # what a kill during a checkpoint write leaves: a newest checkpoint with a truncated weights file
    # and no trainer_state.json yet, and the temp file of an atomic write that never got renamed
    partial = run / "checkpoints" / "checkpoint-999"
    shutil.copytree(checkpoint.parent, partial)
    weights = partial / "adapter_model.safetensors"
    weights.write_bytes(weights.read_bytes()[:100])
    (partial / "trainer_state.json").unlink()
    leftover = run / ".run_meta.json.x7k2m9.tmp"
    leftover.write_text('{"status": "runn')

    first = subprocess.Popen(
        [sys.executable, "-m", "verifily_train", "train", "--resume", str(run)],
        cwd=tmp_path,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        while first.poll() is None and not _owned_by(run, first.pid):
            time.sleep(0.02)
        first.send_signal(signal.SIGSTOP)  # holds the folder, cannot finish while the second tries
        second = _cli("train", "--resume", str(run), cwd=tmp_path)
    finally:
        first.send_signal(signal.SIGCONT)
    assert second.returncode == 2, second.stderr
    assert f"being trained by process {first.pid}" in second.stderr and "Traceback" not in second.stderr
    _, stderr = first.communicate(timeout=600)
    assert first.returncode == 0, stderr
    meta = json.loads((run / "run_meta.json").read_text())
    assert meta["status"] == "completed"
    assert not partial.exists() and not leftover.exists() and not (run / ".heartbeat.json").exists()
    events = json.loads((run / "usage_summary.json").read_text())["events"]
    assert [e["event"] for e in events].count("train_end") == 1
    bogus = _cli("eval-cmd", "--run", str(run), "--device", "bogus", cwd=tmp_path)
    assert bogus.returncode == 2 and "'bogus' is not a device" in bogus.stderr, bogus.stderr
    assert meta["metrics"]["train_loss"] == pytest.approx(expected, abs=1e-6)
    assert (run / "adapter" / "adapter_model.safetensors").read_bytes() == (
        _run_dir(tmp_path, "whole") / "adapter" / "adapter_model.safetensors"
    ).read_bytes()
