"""One training process per run folder: the lock held by a real second process, dead and stale
owners shown as ``interrupted`` (dashboard and resume agree), complete checkpoints only."""

from __future__ import annotations

import json
import os
import signal
import socket
import struct
import subprocess
import sys
import textwrap
import time
import zipfile
from pathlib import Path

import pytest

from verifily_adapters.hf_backend.checkpoints import checkpoint_is_complete
from verifily_adapters.local_store.store import LocalArtifactStore
from verifily_cli.dashboard.data import run_rows
from verifily_core.domain.run_owner import STALE_AFTER_SECONDS, RunOwner, effective_status, owner_alive
from verifily_core.domain.runs import HEARTBEAT, RUN_META
from verifily_core.errors import StoreError
from verifily_core.services.training.run_lock import RunLock, remove_temp_files, run_status
from verifily_core.services.training.train import latest_checkpoint


def _store_with_run(tmp_path: Path, status: str = "running") -> tuple[LocalArtifactStore, str]:
    store = LocalArtifactStore(tmp_path / "runs")
    run_id = store.create_run("locked").run_id
    meta = {
        "run_id": run_id,
        "status": status,
        "task": "sft",
        "base_model": "tiny",
        "seed": 1,
        "started_at": "",
    }
    store.write_json(run_id, RUN_META, meta)
    return store, run_id


def _write_owner(store: LocalArtifactStore, run_id: str, **fields: object) -> None:
    owner = {
        "pid": os.getpid(),
        "host": socket.gethostname(),
        "started_at": time.time(),
        "heartbeat_at": time.time(),
    }
    (store.local_dir(run_id) / HEARTBEAT).write_text(json.dumps({**owner, **fields}))


@pytest.mark.parametrize(
    ("pid_is_alive", "host", "age", "alive"),
    [
        (True, "here", 5.0, True),
        (False, "here", 5.0, False),  # the pid is gone on this host: killed or crashed
        (True, "here", STALE_AFTER_SECONDS + 1, False),  # hung, or the pid was reused
        (False, "elsewhere", 5.0, True),  # another host: only the heartbeat can tell
        (False, "elsewhere", STALE_AFTER_SECONDS + 1, False),
    ],
)
def test_owner_alive_decides_from_pid_and_heartbeat(
    pid_is_alive: bool, host: str, age: float, alive: bool
) -> None:
    owner = RunOwner(123, host, 0.0, 1000.0 - age)
    assert owner_alive(owner, now=1000.0, host="here", pid_alive=lambda pid: pid_is_alive) is alive
    assert effective_status("running", alive) == ("running" if alive else "interrupted")
    assert effective_status("completed", False) == "completed"


def test_malformed_heartbeat_is_no_owner() -> None:
    assert RunOwner.from_dict({"pid": "1", "host": "h", "started_at": 0, "heartbeat_at": 0}) is None
    assert RunOwner.from_dict([1]) is None
    assert RunOwner.from_dict({"pid": 1, "host": "h", "started_at": 0, "heartbeat_at": float("nan")}) is None


@pytest.mark.timeout(60)
def test_a_second_process_is_refused_while_the_first_lives_and_accepted_once_it_is_killed(
    tmp_path: Path,
) -> None:
    store, run_id = _store_with_run(tmp_path)
    holder = subprocess.Popen(
        [
            sys.executable,
            "-c",
            textwrap.dedent(
                f"""
                import sys, time
                from verifily_adapters.local_store.store import LocalArtifactStore
                from verifily_core.services.training.run_lock import RunLock
                with RunLock(LocalArtifactStore({str(store.root)!r}), {run_id!r}):
                    print("held", flush=True)
                    time.sleep(120)
                """
            ),
        ],
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert holder.stdout is not None and holder.stdout.readline().strip() == "held"
        assert run_status(store, run_id, "running") == "running"
        assert [r.status for r in run_rows(store)] == ["running"]
        refused = pytest.raises(StoreError, match=f"being trained by process {holder.pid} on ")
        with refused, RunLock(store, run_id):
            pass
    finally:
        holder.send_signal(signal.SIGKILL)
        holder.wait(timeout=30)
    # SIGKILL: no cleanup ran, the heartbeat still names the dead pid
    assert json.loads((store.local_dir(run_id) / HEARTBEAT).read_text())["pid"] == holder.pid
    assert run_status(store, run_id, "running") == "interrupted"
    assert [r.status for r in run_rows(store)] == ["interrupted"]
    with RunLock(store, run_id):
        assert json.loads((store.local_dir(run_id) / HEARTBEAT).read_text())["pid"] == os.getpid()
    assert not (store.local_dir(run_id) / HEARTBEAT).exists()


def test_a_stale_heartbeat_from_another_host_reads_interrupted_and_can_be_taken(tmp_path: Path) -> None:
    store, run_id = _store_with_run(tmp_path)
    _write_owner(store, run_id, pid=1, host="gpu-node-7", heartbeat_at=time.time() - STALE_AFTER_SECONDS - 5)
    assert run_status(store, run_id, "running") == "interrupted"
    assert [r.status for r in run_rows(store)] == ["interrupted"]
    with RunLock(store, run_id):
        pass


def test_a_fresh_heartbeat_from_another_host_is_refused_even_when_flock_is_free(tmp_path: Path) -> None:
    """A shared filesystem where flock does not reach the other machine: the heartbeat still does."""
    store, run_id = _store_with_run(tmp_path)
    _write_owner(store, run_id, pid=4242, host="gpu-node-7")
    assert run_status(store, run_id, "running") == "running"
    with pytest.raises(StoreError, match="process 4242 on gpu-node-7"), RunLock(store, run_id):
        pass


def test_temp_files_of_interrupted_writes_are_removed(tmp_path: Path) -> None:
    store, run_id = _store_with_run(tmp_path)
    run_dir = store.local_dir(run_id)
    (run_dir / ".run_meta.json.k2j3h4.tmp").write_text("{half")
    (run_dir / "eval").mkdir()
    (run_dir / "eval" / ".eval_results.json.x1.tmp").write_text("")
    (run_dir / "notes.tmp").write_text("a user's file, not ours")
    removed = remove_temp_files(run_dir)
    assert sorted(p.name for p in removed) == [".eval_results.json.x1.tmp", ".run_meta.json.k2j3h4.tmp"]
    assert (run_dir / "notes.tmp").exists() and (run_dir / RUN_META).exists()


# ---------------------------------------------------------------------- complete checkpoints


def _safetensors(path: Path, nbytes: int = 16) -> None:
    header = json.dumps({"w": {"dtype": "F32", "shape": [nbytes // 4], "data_offsets": [0, nbytes]}}).encode()
    path.write_bytes(struct.pack("<Q", len(header)) + header + b"\0" * nbytes)


def _torch_file(path: Path) -> None:
    with zipfile.ZipFile(path, "w") as archive:
        archive.writestr("archive/data.pkl", b"x" * 64)


def _checkpoint(folder: Path) -> Path:
    folder.mkdir(parents=True)
    _safetensors(folder / "adapter_model.safetensors")
    _torch_file(folder / "optimizer.pt")
    _torch_file(folder / "scheduler.pt")
    (folder / "trainer_state.json").write_text(json.dumps({"global_step": 3}))
    return folder


def _truncate(path: Path, keep: int) -> None:
    path.write_bytes(path.read_bytes()[:keep])


@pytest.mark.parametrize(
    "damage",
    [
        lambda c: _truncate(c / "adapter_model.safetensors", 30),
        lambda c: (c / "adapter_model.safetensors").unlink(),
        lambda c: _truncate(c / "optimizer.pt", 40),
        lambda c: (c / "scheduler.pt").unlink(),
        lambda c: (c / "trainer_state.json").unlink(),
        lambda c: _truncate(c / "trainer_state.json", 5),
    ],
    ids=[
        "weights-truncated",
        "weights-missing",
        "optimizer-truncated",
        "scheduler-missing",
        "state-missing",
        "state-truncated",
    ],
)
def test_resume_takes_the_newest_complete_checkpoint(tmp_path: Path, damage: object) -> None:
    whole = _checkpoint(tmp_path / "checkpoints" / "checkpoint-3")
    assert checkpoint_is_complete(whole)
    partial = _checkpoint(tmp_path / "checkpoints" / "checkpoint-6")
    damage(partial)  # type: ignore[operator]
    assert not checkpoint_is_complete(partial)
    assert latest_checkpoint(tmp_path, checkpoint_is_complete) == whole
    assert latest_checkpoint(tmp_path) == partial  # what a name-only pick would have taken


def test_the_refusal_shown_in_docs_training_md_is_the_real_message(tmp_path: Path) -> None:
    doc = (Path(__file__).resolve().parents[2] / "docs" / "training.md").read_text()
    shown = [line for line in doc.splitlines() if line.startswith(("Error: Run ", "Hint: Wait"))]
    store = LocalArtifactStore(tmp_path)
    (tmp_path / "run_20260208_143022_a1b2c3").mkdir()
    (tmp_path / "run_20260208_143022_a1b2c3" / RUN_META).write_text("{}")
    _write_owner(
        store, "run_20260208_143022_a1b2c3", pid=41377, host="gpu-box", heartbeat_at=time.time() - 3.2
    )
    with pytest.raises(StoreError) as refused, RunLock(store, "run_20260208_143022_a1b2c3"):
        pass
    assert shown == [f"Error: {refused.value.message}", f"Hint: {refused.value.hint}"]
