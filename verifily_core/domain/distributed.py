"""Who am I in a distributed launch? The launcher's variables, parsed from a mapping passed in.

Accelerate and torchrun tell each process its place through environment variables (``RANK``,
``WORLD_SIZE``, ``GROUP_RANK``...). :meth:`Ranks.from_env` parses them into plain values, so the
core knows its rank without importing torch. This module never reads the environment nor touches a
file: ``services.training.ranks`` reads ``os.environ`` when it is asked (never at import, so a test
or a launcher that sets the variables later is seen) and writes the rendezvous file.

Only the main process (rank 0) creates the run folder and writes to it; the other ranks learn its
id through a small *rendezvous file* in the store's local work folder, named after a key every rank
of one launch shares:

* ``VERIFILY_LAUNCH_ID``, set by ``verifily train --distributed`` before it launches (the parent also
  reads the file, to mark the run failed when a rank crashes), else
* the id of the launcher process (all ranks of one ``accelerate launch`` on a machine are children of
  the same elastic agent), for a direct ``accelerate launch -m verifily_train.cli``.

Ranks on the other machines of a multi-node launch never see rank 0's folder: they train into a
hidden ``.workers/<key>`` folder under their own work folder instead, and write no run record.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Mapping, Optional

from verifily_core.errors import ConfigError

LAUNCH_ID_ENV = "VERIFILY_LAUNCH_ID"
RENDEZVOUS_TIMEOUT_ENV = "VERIFILY_RENDEZVOUS_TIMEOUT"
DEFAULT_RENDEZVOUS_TIMEOUT_S = 600.0
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


@dataclass(frozen=True)
class Ranks:
    """This process's place in a launch; the defaults describe a plain single process."""

    rank: int = 0
    world_size: int = 1
    machine_rank: int = 0  # ``GROUP_RANK``: which machine of a multi-node launch
    inside_launch: bool = False  # started by a launcher (and so must never launch again)
    launch_id: str = ""  # set by ``verifily train --distributed`` for its children
    parent_pid: int = 0  # the launcher's process id: the shared key of a direct ``accelerate launch``

    @classmethod
    def from_env(cls, env: Mapping[str, str], parent_pid: int = 0) -> Ranks:
        """Parse the launcher's variables (``RANK``/``WORLD_SIZE``, else Accelerate's own names)."""
        return cls(
            rank=int(env.get("RANK", env.get("ACCELERATE_PROCESS_INDEX", "0")) or 0),
            world_size=int(env.get("WORLD_SIZE", env.get("ACCELERATE_NUM_PROCESSES", "1")) or 1),
            machine_rank=int(env.get("GROUP_RANK", "0") or 0),
            inside_launch=any(key in env for key in LAUNCHER_ENV_KEYS),
            launch_id=env.get(LAUNCH_ID_ENV, ""),
            parent_pid=parent_pid,
        )

    @property
    def is_main_process(self) -> bool:
        return self.rank == 0

    @property
    def on_main_machine(self) -> bool:
        """True on the machine of rank 0, the one that holds the run folder."""
        return self.machine_rank == 0

    @property
    def launched_by_parent(self) -> bool:
        """True when ``verifily train --distributed`` started this launch (and cleans up after it)."""
        return bool(self.launch_id)

    @property
    def key(self) -> str:
        """What every rank of this launch on one machine shares: the launch id or the launcher's pid."""
        return self.launch_id or f"ppid{self.parent_pid}"


def rendezvous_timeout(env: Mapping[str, str]) -> float:
    """Seconds a rank waits for rank 0's run id (``VERIFILY_RENDEZVOUS_TIMEOUT``, default 600)."""
    value = env.get(RENDEZVOUS_TIMEOUT_ENV, "").strip()
    if not value:
        return DEFAULT_RENDEZVOUS_TIMEOUT_S
    try:
        seconds = float(value)
    except ValueError:
        seconds = -1.0
    if seconds <= 0:
        raise ConfigError(
            f"{RENDEZVOUS_TIMEOUT_ENV}={value!r} is not a number of seconds above 0.",
            hint=f"Unset it (the default is {DEFAULT_RENDEZVOUS_TIMEOUT_S:.0f}) or set a number, e.g. 900.",
        )
    return seconds


def rendezvous_file(work_dir: Path, key: str) -> Path:
    """Where rank 0 tells the others (and the parent launcher) which run folder this launch writes."""
    return Path(work_dir) / f".launch-{key}.json"


def worker_dir(work_dir: Path, key: str) -> Path:
    """Where ranks on the other machines of a multi-node run keep their own checkpoint files (rng
    states): the run folder lives on rank 0's machine, which they cannot see."""
    return Path(work_dir) / ".workers" / key


def rendezvous_text(run_id: str) -> str:
    """The rendezvous file's content."""
    return json.dumps({"run_id": run_id})


def parse_rendezvous(text: str) -> Optional[str]:
    """The run id in a rendezvous file's content; None while it is not (yet) a whole file."""
    try:
        return str(json.loads(text)["run_id"])
    except (ValueError, KeyError, TypeError):
        return None
