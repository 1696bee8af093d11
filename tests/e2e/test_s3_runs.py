"""Runs in a bucket, through the CLI, against a real S3 API server (moto, tests/helpers/servers.py).

Each "machine" is a working folder with its own HOME and store cache (``VERIFILY_STORE_CACHE``), so
nothing but the bucket connects them: train to ``s3://...``, evaluate and verify from another
folder, compare a bucket run with a local one, tamper an object, and resume a training killed with
``kill -9`` from a second folder. No credential may appear in any output, local file or object.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import subprocess
import sys
from pathlib import Path
from typing import Any, Dict, Iterator, List

import pytest
from helpers.data import reverse_rows
from helpers.pause import Pause
from helpers.runs import tiny_sft_config, tiny_workspace, write_config

pytestmark = [pytest.mark.slow, pytest.mark.timeout(900)]


@pytest.fixture(scope="module")
def workspace(tmp_path_factory: pytest.TempPathFactory) -> Path:
    rows = {"train": reverse_rows(32, 1), "other": reverse_rows(32, 2), "test": reverse_rows(8, 3)}
    return tiny_workspace(tmp_path_factory.mktemp("s3-runs"), **rows)


def config(workspace: Path, folder: Path, output: str, train: str = "train", **training: Any) -> Path:
    cfg = tiny_sft_config(
        base_model=str(workspace / "tiny"),
        data_paths={"train": str(workspace / f"{train}.jsonl"), "test": str(workspace / "test.jsonl")},
        training={"max_seq_length": 48, "logging_steps": 1, "save_steps": 1000, **training},
        output={"dir": output},
    )
    return write_config(folder / "train.yaml", cfg)


def machine(folder: Path) -> Dict[str, str]:
    """The environment of a command run on its own "machine": HOME and store cache in ``folder``."""
    folder.mkdir(parents=True, exist_ok=True)
    return {**os.environ, "HOME": str(folder / ".home"), "VERIFILY_STORE_CACHE": str(folder / ".cache")}


def cli(folder: Path, *args: str, timeout: int = 600) -> subprocess.CompletedProcess[str]:
    command = [sys.executable, "-m", "verifily_train", *args]
    env = {**machine(folder), "COLUMNS": "200"}
    return subprocess.run(command, cwd=folder, env=env, capture_output=True, text=True, timeout=timeout)


def keys(s3_server: Any, bucket: str, prefix: str) -> List[str]:
    pages = s3_server.client().get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=prefix)
    return sorted(o["Key"][len(prefix) :] for page in pages for o in page.get("Contents", []))


def get(s3_server: Any, bucket: str, key: str) -> bytes:
    return bytes(s3_server.client().get_object(Bucket=bucket, Key=key)["Body"].read())


@pytest.fixture(scope="module")
def bucket_run(
    s3_server: Any, workspace: Path, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Dict[str, Any]]:
    bucket = s3_server.bucket()
    folder = tmp_path_factory.mktemp("machine-a")
    cfg = config(workspace, folder, f"s3://{bucket}/runs")
    done = cli(folder, "train", "--config", str(cfg))
    assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-3000:]
    (run_id,) = {k.split("/")[0] for k in keys(s3_server, bucket, "runs/") if k.endswith("/run_meta.json")}
    outputs = [done.stdout + done.stderr]
    yield {"bucket": bucket, "id": run_id, "url": f"s3://{bucket}/runs/{run_id}", "outputs": outputs}
    leaks = [s3_server.env["AWS_SECRET_ACCESS_KEY"], s3_server.env["AWS_ACCESS_KEY_ID"]]
    assert not [o for o in outputs if any(secret in o for secret in leaks)], "a credential in an output"
    for key in keys(s3_server, bucket, ""):
        body = get(s3_server, bucket, key)
        assert not any(secret.encode() in body for secret in leaks), f"a credential in {key}"
    for path in workspace.parent.rglob("*"):
        if path.is_file() and path.stat().st_size < 50_000_000:
            data = path.read_bytes()
            assert not any(secret.encode() in data for secret in leaks), f"a credential in {path}"


def test_train_writes_the_run_into_the_bucket_sealed(s3_server: Any, bucket_run: Dict[str, Any]) -> None:
    bucket, run_id = bucket_run["bucket"], bucket_run["id"]
    found = keys(s3_server, bucket, f"runs/{run_id}/")
    for name in (
        "run_meta.json",
        "config.yaml",
        "train_summary.json",
        "hashes.json",
        "eval/eval_results.json",
    ):
        assert name in found
    assert any(k.startswith("adapter/") and k.endswith(".safetensors") for k in found)
    assert json.loads(get(s3_server, bucket, f"runs/{run_id}/run_meta.json"))["status"] == "completed"
    assert bucket_run["url"] in bucket_run["outputs"][0]  # the CLI names the run by its URL


def test_eval_compare_and_verify_from_another_machine(
    s3_server: Any, workspace: Path, bucket_run: Dict[str, Any], tmp_path: Path
) -> None:
    bucket, run_id, url = bucket_run["bucket"], bucket_run["id"], bucket_run["url"]
    other = tmp_path / "machine-b"
    ev = cli(other, "eval-cmd", "--run", url, "--test-data", str(workspace / "test.jsonl"), "--name", "again")
    bucket_run["outputs"].append(ev.stdout + ev.stderr)
    assert ev.returncode == 0, ev.stderr[-3000:]
    assert "eval/again/eval_results.json" in keys(s3_server, bucket, f"runs/{run_id}/")
    local_cfg = config(workspace, other, "runs", train="other")
    local = cli(other, "train", "--config", str(local_cfg))
    assert local.returncode == 0, local.stderr[-3000:]
    (local_run,) = (other / "runs").glob("run_*")
    compared = cli(
        other, "compare-cmd", "--runs", f"{url},{local_run}", "--format", "json", "--bootstrap", "0"
    )
    bucket_run["outputs"].append(compared.stdout + compared.stderr)
    assert compared.returncode == 0, compared.stderr[-3000:]
    assert run_id in compared.stdout and local_run.name in compared.stdout
    verified = cli(other, "reproduce", "--run", url, "--verify-only")
    bucket_run["outputs"].append(verified.stdout + verified.stderr)
    assert verified.returncode == 0 and "PASS" in verified.stdout, verified.stdout + verified.stderr[-2000:]
    weights = f"runs/{run_id}/adapter/adapter_model.safetensors"
    original = get(s3_server, bucket, weights)
    flipped = bytearray(original)
    flipped[len(flipped) // 2] ^= 1
    s3_server.client().put_object(Bucket=bucket, Key=weights, Body=bytes(flipped))
    try:
        tampered = cli(other, "reproduce", "--run", url, "--verify-only")
        assert tampered.returncode == 1, tampered.stdout + tampered.stderr[-2000:]
        assert "FAIL" in tampered.stdout and "adapter_model.safetensors" in tampered.stdout
    finally:
        s3_server.client().put_object(Bucket=bucket, Key=weights, Body=original)
    assert not (other / "s3:").exists()


def test_a_killed_training_resumes_from_the_bucket_on_another_machine(
    s3_server: Any, workspace: Path, bucket_run: Dict[str, Any], tmp_path: Path
) -> None:
    bucket = bucket_run["bucket"]
    first, second = tmp_path / "machine-c", tmp_path / "machine-d"
    # 32 rows, batch 8, 12 epochs: 48 steps, a checkpoint every 4
    cfg = config(
        workspace,
        first,
        f"s3://{bucket}/long",
        num_epochs=12,
        save_steps=4,
        save_total_limit=2,
        gradient_accumulation_steps=1,
    )
    # paused once a sync has uploaded a complete checkpoint: it waits there, so it cannot finish first
    pause = Pause(
        first / "pause",
        at="verifily_adapters.fsspec_store.store:FsspecArtifactStore.sync",
        when=str(first / ".cache" / "**" / "checkpoints" / "checkpoint-*" / "trainer_state.json"),
    )
    proc = pause.start("train", "--config", str(cfg), cwd=first, env=machine(first))
    checkpoint = re.compile(r"^([^/]+)/checkpoints/checkpoint-\d+/trainer_state\.json$")
    try:
        pause.wait(proc, timeout=400)
        found = [m.group(1) for k in keys(s3_server, bucket, "long/") if (m := checkpoint.match(k))]
        assert found, "the paused run has no complete checkpoint in the bucket"
    finally:
        _kill_tree(proc)
    run_id = found[0]
    meta = json.loads(get(s3_server, bucket, f"long/{run_id}/run_meta.json"))
    assert meta["status"] == "running", "the run completed before it could be killed"
    resumed = cli(second, "train", "--resume", f"s3://{bucket}/long/{run_id}")
    bucket_run["outputs"].append(resumed.stdout + resumed.stderr)
    assert resumed.returncode == 0, resumed.stdout[-2000:] + resumed.stderr[-3000:]
    assert "Resum" in resumed.stdout + resumed.stderr
    summary = json.loads(get(s3_server, bucket, f"long/{run_id}/train_summary.json"))
    assert summary["global_step"] == 48
    assert json.loads(get(s3_server, bucket, f"long/{run_id}/run_meta.json"))["status"] == "completed"
    assert "hashes.json" in keys(s3_server, bucket, f"long/{run_id}/")


def _kill_tree(proc: subprocess.Popen[bytes]) -> None:
    import psutil

    with contextlib.suppress(psutil.NoSuchProcess):
        for child in psutil.Process(proc.pid).children(recursive=True):
            child.kill()
    proc.kill()
    proc.wait()
