"""Distributed training on 2 CPU processes (gloo) through Accelerate, as CI can run it.

Each test launches real processes on the tiny causal model; data and steps are kept tiny.
"""

from __future__ import annotations

import contextlib
import glob
import json
import os
import subprocess
import sys
import time
from pathlib import Path
from typing import List

import pytest
import yaml
from helpers.data import reverse_rows
from helpers.runs import tiny_sft_config, tiny_workspace, write_config
from helpers.servers import free_port

from verifily_core.domain import distributed

pytestmark = pytest.mark.slow
TIMEOUT_S = 600


@pytest.fixture(scope="module")
def workspace(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tiny_workspace(tmp_path_factory.mktemp("dist"), train=reverse_rows(32, 1))


def _config(root: Path, name: str) -> Path:
    config = tiny_sft_config(
        name=name,
        training={
            "num_epochs": 2,
            "batch_size": 4,
            "max_seq_length": 48,
            "logging_steps": 1,
            "save_steps": 100,
            "save_total_limit": 1,
        },
        lora={"r": 8},
        eval={"enabled": False},
        output={"dir": f"runs-{name}"},
    )
    return write_config(root / f"{name}.yaml", config)


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
    assert summary["batching"] == "packed"  # packing: auto packs a causal LM on CPU too, under DDP
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
    assert "find_unused_parameters" not in result.stderr  # no DDP warning on every rank and step
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


# ---------------------------------------------------------------- two "machines" on one host
# Each node has its own working folder, its own Accelerate config (machine_rank 0 / 1, one CPU
# process each, rendezvous on 127.0.0.1) and is started with `verifily train --accelerate-config`,
# exactly as docs/distributed.md tells a team to do on two real machines.
NODE_KILL_BOUND_S = 180  # a node killed mid-run: the main node must have ended the run by then


def _nodes(workspace: Path, name: str, epochs: int, save_steps: int) -> List[Path]:
    """node0/ and node1/ under ``workspace/name``, each with ``train.yaml`` and ``node<R>.yaml``."""
    port = free_port()
    cfg = yaml.safe_load(_config(workspace, name).read_text())
    cfg["base_model"] = str(workspace / "tiny")
    cfg["data_paths"]["train"] = str(workspace / "train.jsonl")
    cfg["output"]["dir"] = "runs"
    cfg["training"].update(num_epochs=epochs, save_steps=save_steps)
    nodes = []
    for rank in (0, 1):
        node = workspace / name / f"node{rank}"
        node.mkdir(parents=True)
        (node / "train.yaml").write_text(yaml.safe_dump(cfg))
        accelerate = {
            "compute_environment": "LOCAL_MACHINE",
            "distributed_type": "MULTI_GPU",
            "num_machines": 2,
            "num_processes": 2,
            "machine_rank": rank,
            "main_process_ip": "127.0.0.1",
            "main_process_port": port,
            "rdzv_backend": "static",
            "same_network": True,
            "mixed_precision": "no",
            "use_cpu": True,
            "dynamo_config": {"dynamo_backend": "NO"},
        }
        (node / f"node{rank}.yaml").write_text(yaml.safe_dump(accelerate))
        nodes.append(node)
    return nodes


def _start_node(node: Path, rank: int) -> subprocess.Popen[str]:
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    for key in (*distributed.LAUNCHER_ENV_KEYS, "RANK", "WORLD_SIZE"):
        env.pop(key, None)
    command = [sys.executable, "-m", "verifily_train.cli", "train", "--config", "train.yaml"]
    command += ["--distributed", "--accelerate-config", f"node{rank}.yaml"]
    log = (node / "node.log").open("w")
    return subprocess.Popen(command, cwd=node, env=env, stdout=log, stderr=subprocess.STDOUT, text=True)


def _kill_machine(proc: subprocess.Popen[str]) -> None:
    """SIGKILL a node's whole process tree at once: the launcher starts its ranks in sessions of
    their own, so killing the process group would leave the rank training on."""
    import psutil

    try:
        tree = [psutil.Process(proc.pid), *psutil.Process(proc.pid).children(recursive=True)]
    except psutil.NoSuchProcess:
        return
    for p in tree:
        with contextlib.suppress(psutil.NoSuchProcess):
            p.suspend()
    for p in tree:
        with contextlib.suppress(psutil.NoSuchProcess):
            p.kill()
    proc.wait()


@pytest.mark.timeout(900)
def test_two_nodes_on_one_host_train_one_run(workspace: Path) -> None:
    node0, node1 = _nodes(workspace, "two-nodes", epochs=2, save_steps=100)
    procs = [_start_node(node0, 0), _start_node(node1, 1)]
    try:
        codes = [p.wait(timeout=TIMEOUT_S) for p in procs]
    finally:
        for p in procs:
            _kill_machine(p)
    logs = [(n / "node.log").read_text()[-3000:] for n in (node0, node1)]
    assert codes == [0, 0], logs
    assert "Run completed:" in logs[0] and "Run completed:" not in logs[1]
    _check_distributed_run(node0 / "runs", workspace / "tiny")
    assert not _run_folders(node1 / "runs"), "the second node writes no run record"


@pytest.mark.timeout(900)
def test_a_killed_node_fails_the_run_on_the_main_node(workspace: Path) -> None:
    node0, node1 = _nodes(workspace, "node-killed", epochs=200, save_steps=2)
    main, other = _start_node(node0, 0), _start_node(node1, 1)
    try:
        deadline = time.monotonic() + TIMEOUT_S
        while not list((node0 / "runs").glob("*/checkpoints/checkpoint-*")):
            assert main.poll() is None, (node0 / "node.log").read_text()[-3000:]
            assert time.monotonic() < deadline, "no checkpoint on the main node in time"
            time.sleep(0.5)
        _kill_machine(other)
        killed = time.monotonic()
        code = main.wait(timeout=NODE_KILL_BOUND_S)
        took = time.monotonic() - killed
    finally:
        _kill_machine(main)
        _kill_machine(other)
    assert code != 0
    assert took < NODE_KILL_BOUND_S
    (run,) = _run_folders(node0 / "runs")
    meta = json.loads((run / "run_meta.json").read_text())
    assert meta["status"] == "failed"
    assert "lost the connection to a training process on another machine" in meta["error"], meta["error"]
