"""Who am I in a distributed launch, and which run folder do all ranks share?

Read from the launcher's environment (``RANK``/``WORLD_SIZE`` set by Accelerate or torchrun), so the
core knows its rank without importing torch. Only the main process (rank 0) creates the run folder
and writes to it; the other ranks learn its id through a small *rendezvous file* that rank 0 writes
into the runs root, named after a key every rank of one launch shares:

* ``VERIFILY_LAUNCH_ID``, set by ``verifily train --distributed`` before it launches (the parent also
  reads the file, to mark the run failed when a rank crashes), else
* the id of the launcher process (all ranks of one ``accelerate launch`` on a machine are children of
  the same elastic agent), for a direct ``accelerate launch -m verifily_train.cli``.

Ranks on the other machines of a multi-node launch never see rank 0's folder: they train into a
hidden ``.workers/<key>`` folder under their own runs root instead, and write no run record.

Rank 0 removes the file once training is over: every other rank has read it by then, since training
cannot finish without them. A rank that waits longer than ``RENDEZVOUS_TIMEOUT_S`` gives up with a
clear error instead of hanging.
"""

from __future__ import annotations

import json
import os
import time
from pathlib import Path
from typing import Mapping, Optional

from verifily_core.errors import StoreError

LAUNCH_ID_ENV = "VERIFILY_LAUNCH_ID"
RENDEZVOUS_TIMEOUT_S = float(os.environ.get("VERIFILY_RENDEZVOUS_TIMEOUT", "600"))
STOPPED_BY_LAUNCHER = "stopped by the distributed launcher (another training process failed)"
# set in every launched process; a one-process ``accelerate launch`` sets no rank at all, hence
# Accelerate's own dynamo key and our launch id (the children of ``verifily train --distributed``)
LAUNCHER_ENV_KEYS = (
    "LOCAL_RANK",
    "ACCELERATE_PROCESS_INDEX",
    "TORCHELASTIC_RUN_ID",
    "ACCELERATE_DYNAMO_BACKEND",
    LAUNCH_ID_ENV,
)


def rank(env: Optional[Mapping[str, str]] = None) -> int:
    """Global rank of this process (0 outside a distributed launch)."""
    env = os.environ if env is None else env
    return int(env.get("RANK", env.get("ACCELERATE_PROCESS_INDEX", "0")) or 0)


def world_size(env: Optional[Mapping[str, str]] = None) -> int:
    env = os.environ if env is None else env
    return int(env.get("WORLD_SIZE", env.get("ACCELERATE_NUM_PROCESSES", "1")) or 1)


def is_main_process(env: Optional[Mapping[str, str]] = None) -> bool:
    return rank(env) == 0


def on_main_machine(env: Optional[Mapping[str, str]] = None) -> bool:
    """True on the machine of rank 0 (``GROUP_RANK`` is the machine rank of a multi-node launch)."""
    env = os.environ if env is None else env
    return int(env.get("GROUP_RANK", "0") or 0) == 0


def worker_dir(runs_root: Path, key: str) -> Path:
    """Where ranks on the other machines of a multi-node run keep their own checkpoint files (rng
    states): the run folder lives on rank 0's machine, which they cannot see."""
    return Path(runs_root) / ".workers" / key


def inside_launch(env: Optional[Mapping[str, str]] = None) -> bool:
    """True in a process started by a distributed launcher (which must never launch again)."""
    env = os.environ if env is None else env
    return any(key in env for key in LAUNCHER_ENV_KEYS)


def launch_key(env: Optional[Mapping[str, str]] = None) -> str:
    env = os.environ if env is None else env
    return env.get(LAUNCH_ID_ENV) or f"ppid{os.getppid()}"


def launched_by_parent(env: Optional[Mapping[str, str]] = None) -> bool:
    """True when ``verifily train --distributed`` started this launch (and cleans up after it)."""
    env = os.environ if env is None else env
    return bool(env.get(LAUNCH_ID_ENV))


def rendezvous_file(runs_root: Path, key: str) -> Path:
    return Path(runs_root) / f".launch-{key}.json"


def publish_run_id(runs_root: Path, key: str, run_id: str) -> None:
    """Rank 0: tell the other ranks (and the parent launcher) which run folder this launch writes."""
    path = rendezvous_file(runs_root, key)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps({"run_id": run_id}), encoding="utf-8")
    os.replace(tmp, path)


def read_run_id(runs_root: Path, key: str) -> Optional[str]:
    path = rendezvous_file(runs_root, key)
    try:
        return str(json.loads(path.read_text(encoding="utf-8"))["run_id"])
    except (OSError, ValueError, KeyError):
        return None


def await_run_id(runs_root: Path, key: str, timeout_s: float = RENDEZVOUS_TIMEOUT_S) -> str:
    """Other ranks: wait for rank 0 to publish the run id; a bounded wait, never a hang."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        run_id = read_run_id(runs_root, key)
        if run_id is not None:
            return run_id
        time.sleep(0.2)
    raise StoreError(
        f"Rank {rank()} waited {timeout_s:.0f}s for rank 0 to create the run folder "
        f"({rendezvous_file(runs_root, key)}) and gave up.",
        hint="Rank 0 probably failed before training started: see its error above. "
        "VERIFILY_RENDEZVOUS_TIMEOUT sets the wait in seconds.",
    )


def withdraw_run_id(runs_root: Path, key: str) -> None:
    """Rank 0, after training: the rendezvous file has served its purpose."""
    rendezvous_file(runs_root, key).unlink(missing_ok=True)
