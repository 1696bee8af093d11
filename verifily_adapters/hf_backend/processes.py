"""Several training processes through Accelerate: how many, the launcher's command, a crash's cause.

``verifily train --distributed`` (or ``compute.distributed: true``) runs
``python -m accelerate.commands.launch ... -m verifily_train.cli <the same arguments>``; the CLI
starts it and waits (see ``verifily_cli/handlers/train.py``), this module decides it. On CPU
(``compute.device: cpu``, or ``auto`` without a GPU) the N processes run on the CPU over gloo:
``accelerate launch --cpu`` would silently start one process only, so the multi-process launcher
is used and the trainer sets ``use_cpu``.
"""

from __future__ import annotations

import re
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import List, Optional, Sequence

from verifily_core.config import TrainConfig
from verifily_core.errors import ConfigError
from verifily_core.ports.model_backend import LaunchPlan

_ERROR_LINE = re.compile(r"\b\w*(Error|Exception)\b:")
# launcher boilerplate and the errors the surviving ranks see when a peer dies: not the cause
_LAUNCHER_NOISE = (
    "ChildFailedError",
    "torch.distributed.elastic",
    "CalledProcessError",
    "Connection closed",
    "remote worker",
    "stopped by the distributed launcher",
    "Socket Timeout",
)
# what the surviving ranks report when a peer process dies (gloo, NCCL, the c10d store)
_PEER_LOST = ("Connection reset by peer", "Connection closed", "remote worker", "Socket Timeout")


@dataclass(frozen=True)
class Processes:
    """How many processes, on which device kind, with which mixed precision."""

    count: int
    on_cpu: bool
    mixed_precision: str


def visible_gpus() -> int:
    """CUDA devices this process sees (``CUDA_VISIBLE_DEVICES`` applies); imports torch."""
    import torch

    return torch.cuda.device_count() if torch.cuda.is_available() else 0


def processes_for(config: TrainConfig, visible: int) -> Processes:
    """The process count and precision for ``config`` on a machine with ``visible`` GPUs."""
    compute = config.compute
    requested = compute.num_gpus
    if compute.device == "cpu" or (compute.device == "auto" and visible == 0):
        return Processes(requested or 1, True, "no")
    if compute.device == "mps":
        raise ConfigError(
            "Distributed training does not run on MPS (Apple Silicon).",
            key="compute.device",
            hint="Use compute.device: cpu to test distributed training on CPU processes, or a CUDA machine.",
        )
    count = requested or visible
    if count > visible:
        raise ConfigError(
            f"compute.num_gpus (--num-gpus) asks for {count} GPU(s) but this machine has {visible} "
            "visible CUDA GPU(s).",
            key="compute.num_gpus",
            hint=f"Use --num-gpus {visible} or less (check CUDA_VISIBLE_DEVICES), or compute.device: "
            "cpu to run the processes on the CPU.",
        )
    precision = "bf16" if compute.bf16 else "fp16" if compute.fp16 else "no"
    return Processes(count, False, precision)


def accelerate_command(
    processes: Processes, args: Sequence[str], accelerate_config: Optional[Path]
) -> List[str]:
    """The ``accelerate launch`` command line; a config file (multi-node) decides the topology itself."""
    cmd = [sys.executable, "-m", "accelerate.commands.launch"]
    if accelerate_config is not None:
        cmd += ["--config_file", str(accelerate_config)]
    else:
        cmd += [
            "--num_processes",
            str(processes.count),
            "--num_machines",
            "1",
            "--mixed_precision",
            processes.mixed_precision,
            "--dynamo_backend",
            "no",
        ]
        if processes.count > 1:
            cmd.append("--multi_gpu")
    return cmd + ["-m", "verifily_train.cli", *args]


def plan_launch(
    config: TrainConfig,
    args: Sequence[str],
    accelerate_config: Optional[Path],
    visible: Optional[int] = None,
) -> LaunchPlan:
    """The port's ``plan_launch``: ``visible`` GPUs are counted with torch unless given (tests)."""
    if accelerate_config is not None and not accelerate_config.is_file():
        raise ConfigError(
            f"Accelerate config file not found: {accelerate_config}",
            hint="Write one with `accelerate config --config_file FILE`.",
        )
    if visible is None:  # CPU processes need no GPU count (nor torch)
        visible = 0 if config.compute.device == "cpu" else visible_gpus()
    processes = processes_for(config, visible)
    note = None
    if processes.on_cpu:
        which = (
            f"this machine's training processes of {accelerate_config}"
            if accelerate_config is not None
            else f"{processes.count} training process(es)"
        )
        note = f"no GPU in use (compute.device: {config.compute.device}): running {which} on the CPU (gloo)."
    return LaunchPlan(
        tuple(accelerate_command(processes, args, accelerate_config)), processes.count, processes.on_cpu, note
    )


def crash_summary(returncode: int, tail: Sequence[str]) -> str:
    """The first real error line of the launcher's output: the crashed rank's own error.

    A rank on another machine of a multi-node launch prints nothing here: when it dies, all this
    machine sees is a lost connection, which is then named as such (not a line of launcher boilerplate).
    """
    prefix = f"a training process of the distributed launch failed (exit code {returncode})"
    errors = [line.strip() for line in tail if _ERROR_LINE.search(line)]
    causes = [line for line in errors if not any(noise in line for noise in _LAUNCHER_NOISE)]
    if causes:
        return f"{prefix}: {causes[0]}"
    lost = [line for line in errors if any(symptom in line for symptom in _PEER_LOST)]
    if lost:
        return (
            f"{prefix}: lost the connection to a training process on another machine (it stopped or "
            f"was killed; see that machine's output): {lost[0][:300]}"
        )
    return f"{prefix}: {tail[-1].strip() if tail else 'no output'}"
