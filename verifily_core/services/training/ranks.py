"""The ranks of a distributed launch, seen from one process: its place, the run folder they share,
and how a launch that failed is recorded.

Why a service and not the domain: this is where the environment is read (``os.environ``, the
parent's process id: at each call, never at import) and where the rendezvous file is written,
polled and removed (see ``domain.distributed`` for the protocol). The folder it lives in is the
store's :meth:`~verifily_core.ports.artifact_store.ArtifactStore.work_dir`, the one local folder
every rank on a machine sees, whatever the store is.
"""

from __future__ import annotations

import os
import signal
import time
from pathlib import Path
from typing import Mapping, Optional

from verifily_core.domain import distributed
from verifily_core.domain.distributed import Ranks
from verifily_core.domain.runs import RUN_META, RunRecord, iso, utc_now
from verifily_core.errors import StoreError
from verifily_core.ports.artifact_store import ArtifactStore

POLL_S = 0.2


def current(env: Optional[Mapping[str, str]] = None) -> Ranks:
    """This process's place in a launch, read from ``env`` (default: the environment, now)."""
    return Ranks.from_env(os.environ if env is None else env, os.getppid())


def publish_run_id(work_dir: Path, key: str, run_id: str) -> None:
    """Rank 0: tell the other ranks (and the parent launcher) which run folder this launch writes."""
    path = distributed.rendezvous_file(work_dir, key)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp")
    with open(tmp, "w", encoding="utf-8") as fh:
        fh.write(distributed.rendezvous_text(run_id))
        fh.flush()
        os.fsync(fh.fileno())
    os.replace(tmp, path)


def read_run_id(work_dir: Path, key: str) -> Optional[str]:
    """The published run id, or None while rank 0 has not published it."""
    try:
        text = distributed.rendezvous_file(work_dir, key).read_text(encoding="utf-8")
    except OSError:
        return None
    return distributed.parse_rendezvous(text)


def await_run_id(work_dir: Path, key: str, *, rank: int, timeout_s: Optional[float] = None) -> str:
    """Other ranks: wait for rank 0 to publish the run id; a bounded wait, never a hang.

    ``timeout_s`` defaults to ``VERIFILY_RENDEZVOUS_TIMEOUT`` (600 s).
    """
    timeout = distributed.rendezvous_timeout(os.environ) if timeout_s is None else timeout_s
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        run_id = read_run_id(work_dir, key)
        if run_id is not None:
            return run_id
        time.sleep(POLL_S)
    raise StoreError(
        f"Rank {rank} waited {timeout:.0f}s for rank 0 to create the run folder "
        f"({distributed.rendezvous_file(work_dir, key)}) and gave up.",
        hint="Rank 0 probably failed before training started: see its error above. "
        f"{distributed.RENDEZVOUS_TIMEOUT_ENV} sets the wait in seconds.",
    )


def withdraw_run_id(work_dir: Path, key: str) -> None:
    """Rank 0 (or the parent), after training: the rendezvous file has served its purpose.

    Every other rank has read it by then, since training cannot finish without them.
    """
    distributed.rendezvous_file(work_dir, key).unlink(missing_ok=True)


def settle_launch(store: ArtifactStore, launch_id: str, returncode: int, failure: str) -> Optional[str]:
    """The parent of ``verifily train --distributed``, once its launch ended: clean up, and record a
    failure the run folder does not say yet (``failure``: the crashed process's error).

    Returns the id of the run it marked failed; None when nothing was marked (success, Ctrl-C, or no
    run folder was made).
    """
    run_id = read_run_id(store.work_dir(), launch_id)
    withdraw_run_id(store.work_dir(), launch_id)
    if returncode == 0 or run_id is None or returncode in (-signal.SIGINT, 130):
        return None
    return run_id if mark_failed(store, run_id, failure) else None


def mark_failed(store: ArtifactStore, run_id: str, error: str) -> bool:
    """Record a run whose training processes died (a crashed rank) as ``failed``; True if changed.

    A rank killed by the launcher may never have written its own end, so ``run_meta.json`` could
    still say ``running`` or ``interrupted``; and rank 0's own ``failed`` error is then usually a
    consequence (a closed connection to the crashed rank), so the crashed rank's error, found by the
    parent, replaces it.
    """
    record = RunRecord.from_dict(store.read_json(run_id, RUN_META))
    if record.status not in ("running", "interrupted", "failed"):
        return False
    record.status = "failed"
    record.error = error
    record.resume_hint = None
    record.completed_at = iso(utc_now())
    store.write_json(run_id, RUN_META, record.to_dict())
    return True
