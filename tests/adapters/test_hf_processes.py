"""How the hf backend plans ``verifily train --distributed`` (no process is started), and how it
names the cause of a failed launch."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from verifily_adapters.hf_backend.backend import HFModelBackend
from verifily_adapters.hf_backend.processes import (
    Processes,
    accelerate_command,
    crash_summary,
    plan_launch,
    processes_for,
)
from verifily_core.config import TrainConfig
from verifily_core.errors import ConfigError


def _config(**compute: Any) -> TrainConfig:
    return TrainConfig.from_dict(
        {
            "task": "sft",
            "base_model": "tiny",
            "data_paths": {"train": "t.jsonl"},
            "compute": {"distributed": True, **compute},
        }
    )


def test_cpu_runs_the_requested_number_of_processes_without_mixed_precision() -> None:
    cpu = processes_for(_config(device="cpu", num_gpus=2, bf16=True), visible=4)
    assert cpu == Processes(2, True, "no")
    assert processes_for(_config(device="auto", num_gpus=3), visible=0) == Processes(3, True, "no")


def test_gpus_default_to_all_visible_with_the_configured_precision() -> None:
    assert processes_for(_config(device="cuda", bf16=True), visible=4) == Processes(4, False, "bf16")
    fp16 = processes_for(_config(device="auto", fp16=True, bf16=False, num_gpus=2), visible=2)
    assert fp16.mixed_precision == "fp16"


def test_more_gpus_than_visible_is_a_config_error_before_launching() -> None:
    with pytest.raises(ConfigError, match="asks for 8 GPU") as info:
        processes_for(_config(device="cuda", num_gpus=8), visible=2)
    assert info.value.key == "compute.num_gpus"


def test_launch_command_uses_the_multi_process_launcher_never_cpu_flag() -> None:
    cmd = accelerate_command(Processes(2, True, "no"), ["train", "--config", "c.yaml"], None)
    assert "--cpu" not in cmd
    assert cmd[cmd.index("--num_processes") + 1] == "2"
    assert "--multi_gpu" in cmd
    assert cmd[-5:] == ["-m", "verifily_train.cli", "train", "--config", "c.yaml"]


def test_an_accelerate_config_file_decides_the_topology(tmp_path: Path) -> None:
    cmd = accelerate_command(Processes(2, False, "bf16"), ["train"], tmp_path / "node0.yaml")
    assert cmd[cmd.index("--config_file") + 1] == str(tmp_path / "node0.yaml")
    assert "--num_processes" not in cmd


def test_the_plan_says_when_the_processes_run_on_the_cpu() -> None:
    plan = plan_launch(_config(device="auto", num_gpus=2), ["train"], None, visible=0)
    assert (plan.num_processes, plan.on_cpu) == (2, True)
    assert (
        plan.note == "no GPU in use (compute.device: auto): running 2 training process(es) on the CPU (gloo)."
    )
    gpus = plan_launch(_config(device="cuda"), ["train"], None, visible=2)
    assert (gpus.num_processes, gpus.on_cpu, gpus.note) == (2, False, None)


def test_a_missing_accelerate_config_file_is_refused_before_counting_devices(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="Accelerate config file not found"):
        HFModelBackend().plan_launch(_config(device="cpu"), ["train"], tmp_path / "missing.yaml")


def test_crash_summary_names_the_cause_not_the_peers_symptom() -> None:
    tail = [
        "RuntimeError: [gloo] Connection closed by peer",
        "RuntimeError: boom in rank 1",
        "torch.distributed.elastic.multiprocessing.errors.ChildFailedError:",
    ]
    assert crash_summary(1, tail).endswith("RuntimeError: boom in rank 1")
    assert HFModelBackend().launch_failure(1, tail) == crash_summary(1, tail)


def test_crash_summary_names_a_lost_node_when_no_rank_here_crashed() -> None:
    tail = [
        "Error: Training failed: RuntimeError: [gloo/pair.cc:537] Read error [127.0.0.1]:58509: "
        "Connection reset by peer. This is typically caused by a remote worker hanging",
        "torch.distributed.elastic.multiprocessing.errors.ChildFailedError: ",
        "============================================================",
    ]
    summary = crash_summary(1, tail)
    assert "lost the connection to a training process on another machine" in summary
    assert "Connection reset by peer" in summary
