"""Distributed training: re-launch the same command through Accelerate, then wait for it.

``verifily train --distributed`` (or ``compute.distributed: true``) runs
``python -m accelerate.commands.launch ... -m verifily_train.cli <the same arguments>``. The child
processes see the launcher's environment (``LOCAL_RANK`` ...) and never launch again. The parent
forwards SIGINT/SIGTERM, echoes the children's stderr while keeping its tail, and exits with their
exit code; when they fail and ``run_meta.json`` does not say so, it marks the run ``failed`` with the
crashed rank's error. On CPU (``compute.device: cpu``, or ``auto`` without a GPU) the N processes
run on the CPU over gloo: ``accelerate launch --cpu`` would silently start one process only, so the
multi-process launcher is used and the backend sets ``use_cpu``.
"""

from __future__ import annotations

import collections
import os
import re
import signal
import subprocess
import sys
import threading
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Deque, Dict, List, Optional, Tuple

from verifily_cli.render import err

TAIL_LINES = 200
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
class LaunchPlan:
    """How many processes, on which device kind, with which mixed precision."""

    num_processes: int
    on_cpu: bool
    mixed_precision: str


def plan_launch(config: Any, visible_gpus: int) -> LaunchPlan:
    """The process count and precision for ``config`` on a machine with ``visible_gpus`` GPUs."""
    from verifily_core.errors import ConfigError

    compute = config.compute
    requested = compute.num_gpus
    if compute.device == "cpu" or (compute.device == "auto" and visible_gpus == 0):
        return LaunchPlan(requested or 1, True, "no")
    if compute.device == "mps":
        raise ConfigError(
            "Distributed training does not run on MPS (Apple Silicon).",
            key="compute.device",
            hint="Use compute.device: cpu to test distributed training on CPU processes, or a CUDA machine.",
        )
    count = requested or visible_gpus
    if count > visible_gpus:
        raise ConfigError(
            f"compute.num_gpus (--num-gpus) asks for {count} GPU(s) but this machine has {visible_gpus} "
            "visible CUDA GPU(s).",
            key="compute.num_gpus",
            hint=f"Use --num-gpus {visible_gpus} or less (check CUDA_VISIBLE_DEVICES), or compute.device: "
            "cpu to run the processes on the CPU.",
        )
    precision = "bf16" if compute.bf16 else "fp16" if compute.fp16 else "no"
    return LaunchPlan(count, False, precision)


def launch_command(plan: LaunchPlan, args: List[str], accelerate_config: Optional[Path]) -> List[str]:
    """The ``accelerate launch`` command line; a config file (multi-node) decides the topology itself."""
    cmd = [sys.executable, "-m", "accelerate.commands.launch"]
    if accelerate_config is not None:
        cmd += ["--config_file", str(accelerate_config)]
    else:
        cmd += [
            "--num_processes",
            str(plan.num_processes),
            "--num_machines",
            "1",
            "--mixed_precision",
            plan.mixed_precision,
            "--dynamo_backend",
            "no",
        ]
        if plan.num_processes > 1:
            cmd.append("--multi_gpu")
    return cmd + ["-m", "verifily_train.cli", *args]


def maybe_relaunch(config: Any, config_path: Path, accelerate_config: Optional[Path], dry_run: bool) -> bool:
    """Hand the run to ``accelerate launch`` when distributed; exits with the children's status.

    Returns False (train here) for a dry run, a single-process config, or inside a launched process.
    """
    from verifily_core.domain import distributed
    from verifily_core.errors import ConfigError

    if dry_run or not config.compute.distributed or distributed.inside_launch():
        return False
    if accelerate_config is not None and not accelerate_config.is_file():
        raise ConfigError(
            f"Accelerate config file not found: {accelerate_config}",
            hint="Write one with `accelerate config --config_file FILE`.",
        )
    plan = plan_launch(config, _visible_gpus())
    if plan.on_cpu:
        which = (
            f"this machine's training processes of {accelerate_config}"
            if accelerate_config is not None
            else f"{plan.num_processes} training process(es)"
        )
        err.print(
            f"Note: no GPU in use (compute.device: {config.compute.device}): "
            f"running {which} on the CPU (gloo)."
        )
    launch_id = uuid.uuid4().hex
    env = {**os.environ, distributed.LAUNCH_ID_ENV: launch_id}
    cmd = launch_command(plan, sys.argv[1:], accelerate_config)
    rc, tail = _run_and_wait(cmd, env)
    _settle(config, launch_id, rc, tail)
    if rc != 0:
        raise SystemExit(rc)
    return True


def _visible_gpus() -> int:
    import torch

    return torch.cuda.device_count() if torch.cuda.is_available() else 0


def _run_and_wait(cmd: List[str], env: Dict[str, str]) -> Tuple[int, List[str]]:
    """Run the launcher, forward signals to it, echo its stderr, return (exit code, stderr tail)."""
    child = subprocess.Popen(cmd, env=env, stderr=subprocess.PIPE, text=True, errors="replace")
    tail: Deque[str] = collections.deque(maxlen=TAIL_LINES)

    def pump() -> None:
        assert child.stderr is not None
        for line in child.stderr:
            sys.stderr.write(line)
            tail.append(line.rstrip("\n"))

    reader = threading.Thread(target=pump, daemon=True)
    reader.start()

    def forward(signum: int, frame: Any) -> None:
        child.send_signal(signum)

    previous = {s: signal.signal(s, forward) for s in (signal.SIGINT, signal.SIGTERM)}
    try:
        rc = child.wait()
    finally:
        for s, handler in previous.items():
            signal.signal(s, handler)
    reader.join(timeout=5)
    return rc, list(tail)


def crash_summary(rc: int, tail: List[str]) -> str:
    """The first real error line of the launcher's output: the crashed rank's own error.

    A rank on another machine of a multi-node launch prints nothing here: when it dies, all this
    machine sees is a lost connection, which is then named as such (not a line of launcher boilerplate).
    """
    prefix = f"a training process of the distributed launch failed (exit code {rc})"
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


def _settle(config: Any, launch_id: str, rc: int, tail: List[str]) -> None:
    """After the launch: a failure the run folder does not record yet is recorded; cleanup."""
    from verifily_core.bootstrap import open_store, runs_location
    from verifily_core.domain import distributed
    from verifily_core.services.training.train import mark_failed

    store = open_store(runs_location(config), config.store)
    run_id = distributed.read_run_id(store.root, launch_id)
    distributed.withdraw_run_id(store.root, launch_id)
    if rc == 0 or run_id is None or rc in (-signal.SIGINT, 130):
        return
    if mark_failed(store, run_id, crash_summary(rc, tail)):
        err.print(f"Run {run_id} marked failed: a training process crashed (see above).")
