"""`verifily train` killed with SIGKILL after its first checkpoint, then `--resume`: same result as a
run that was never interrupted (within 1e-6 on CPU fp32), in the same run folder.

The killed run is shown as ``interrupted``; a partial newest checkpoint (what a kill during a
checkpoint write leaves) and leftover temp files do not stop the resume; a second ``--resume`` while
the first one trains is refused (exit 2) and the usage is counted once."""

from __future__ import annotations

import json
import shutil
import signal
import subprocess
from pathlib import Path

import pytest
from helpers.cli import run_verifily
from helpers.data import reverse_rows
from helpers.pause import Pause
from helpers.runs import run_folder, tiny_sft_config, tiny_workspace, write_config

from verifily_adapters.local_store.store import LocalArtifactStore
from verifily_cli.dashboard.data import run_rows
from verifily_core.services.training.run_lock import run_status

pytestmark = pytest.mark.slow


def _config(root: Path, name: str) -> Path:
    training = {
        "num_epochs": 6,
        "batch_size": 4,
        "lr_scheduler": "linear",
        "logging_steps": 3,
        "save_steps": 3,
        "save_total_limit": 1,
    }
    config = tiny_sft_config(seed=5, name=name, training=training, eval={"enabled": False})
    return write_config(root / f"{name}.yaml", config)


def test_sigkill_after_a_checkpoint_then_resume_matches_an_uninterrupted_run(tmp_path: Path) -> None:
    tiny_workspace(tmp_path, train=reverse_rows(40, 9))
    whole = run_verifily("train", "--config", str(_config(tmp_path, "whole")), cwd=tmp_path, timeout=600)
    assert whole.returncode == 0, whole.stderr
    expected = json.loads((run_folder(tmp_path / "runs", "whole") / "run_meta.json").read_text())["metrics"][
        "train_loss"
    ]

    # killed right after its first complete checkpoint: it waits there for the kill, so it cannot finish
    pause = Pause(tmp_path / "pause-killed")
    proc = pause.start("train", "--config", str(_config(tmp_path, "killed")), cwd=tmp_path)
    try:
        step = pause.wait(proc)
    finally:
        proc.send_signal(signal.SIGKILL)
        proc.wait(timeout=30)
    run = run_folder(tmp_path / "runs", "killed")
    checkpoint = run / "checkpoints" / f"checkpoint-{step}" / "trainer_state.json"
    assert checkpoint.is_file(), f"no complete checkpoint-{step} in {run}"
    meta = json.loads((run / "run_meta.json").read_text())
    assert meta["status"] == "running"

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

    # the first resume holds the folder, paused at its first checkpoint, while the second one tries
    hold = Pause(tmp_path / "pause-first")
    first = hold.start(
        "train", "--resume", str(run), cwd=tmp_path, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )
    try:
        hold.wait(first)
        second = run_verifily("train", "--resume", str(run), cwd=tmp_path, timeout=600)
    finally:
        hold.release()
    assert second.returncode == 2, second.stderr
    assert f"being trained by process {first.pid}" in second.stderr and "Traceback" not in second.stderr
    _, stderr = first.communicate(timeout=600)
    assert first.returncode == 0, stderr
    meta = json.loads((run / "run_meta.json").read_text())
    assert meta["status"] == "completed"
    assert not partial.exists() and not leftover.exists() and not (run / ".heartbeat.json").exists()
    events = json.loads((run / "usage_summary.json").read_text())["events"]
    assert [e["event"] for e in events].count("train_end") == 1
    bogus = run_verifily("eval-cmd", "--run", str(run), "--device", "bogus", cwd=tmp_path, timeout=600)
    assert bogus.returncode == 2 and "'bogus' is not a device" in bogus.stderr, bogus.stderr
    assert meta["metrics"]["train_loss"] == pytest.approx(expected, abs=1e-6)
    assert (run / "adapter" / "adapter_model.safetensors").read_bytes() == (
        run_folder(tmp_path / "runs", "whole") / "adapter" / "adapter_model.safetensors"
    ).read_bytes()
