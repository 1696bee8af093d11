"""The spool: MLflow operations a run could not deliver, kept in its folder, and their replay.

``mlflow_spool.jsonl`` starts with a header line (``{"op": "spooled", "tracking_uri", "run_id",
"error", "at"}``: where the run was being logged, the MLflow run already open there if any, and the
failure), then one operation per line in the order they happened. Lines are appended and flushed
one at a time, so a crash loses at most a torn last line, which the replay skips.

``replay(run_dir)`` delivers them once the server is back, oldest first, and stops at the first
failure: what was delivered leaves the spool, the rest stays for the next replay.
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any, Dict, List, Optional, Tuple, Union

from verifily_adapters.atomic import atomic_write_text
from verifily_adapters.mlflow_tracker.delivery import Op, connect, deliver
from verifily_core.domain.runs import MLFLOW_SPOOL
from verifily_core.errors import TrackerError

SPOOL = MLFLOW_SPOOL  # the spool's file name in a run folder


class Spool:
    """Appends operations to a run's spool; opened at the first failure, with its header."""

    def __init__(self, run_dir: Path, tracking_uri: str, run_id: Optional[str], error: str) -> None:
        self.path = run_dir / SPOOL
        fresh = not self.path.exists()
        self._fh: Optional[IO[str]] = open(self.path, "a", encoding="utf-8")  # noqa: SIM115 - kept open
        if fresh:
            at = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
            self.append(
                {"op": "spooled", "tracking_uri": tracking_uri, "run_id": run_id, "error": error, "at": at}
            )

    def append(self, op: Op) -> None:
        if self._fh is None:
            raise TrackerError(f"The MLflow spool {self.path} is closed")
        self._fh.write(json.dumps(op, ensure_ascii=False) + "\n")
        self._fh.flush()

    def close(self) -> None:
        fh, self._fh = self._fh, None
        if fh is not None:
            fh.close()


@dataclass(frozen=True)
class ReplayReport:
    """What a replay did: operations delivered, operations still spooled, and why they wait."""

    delivered: int
    remaining: int
    run_id: Optional[str]
    error: Optional[str] = None


def read(run_dir: Path) -> Tuple[Dict[str, Any], List[Op]]:
    """The header and the operations of a run's spool (a torn last line is dropped)."""
    path = Path(run_dir) / SPOOL
    if not path.is_file():
        raise TrackerError(f"No MLflow spool in {run_dir}", hint=f"Nothing to replay: {SPOOL} is absent.")
    rows: List[Op] = []
    lines = path.read_text(encoding="utf-8").splitlines()
    for number, line in enumerate(lines, 1):
        try:
            rows.append(json.loads(line))
        except ValueError:
            if number == len(lines):
                break  # the write a crash interrupted
            raise TrackerError(f"{path}:{number}: not a JSON line; the spool is damaged") from None
    if not rows or rows[0].get("op") != "spooled":
        raise TrackerError(f"{path}:1: no spool header; is this an MLflow spool?")
    return rows[0], rows[1:]


def replay(run_dir: Union[str, Path], tracking_uri: Optional[str] = None) -> ReplayReport:
    """Deliver a run's spooled MLflow operations to ``tracking_uri`` (default: where they were bound).

    The MLflow run opened before the failure, if any, is continued; otherwise the spooled ``open``
    creates it. Raises ``TrackerError`` when there is no spool or mlflow is not installed.
    """
    run_dir = Path(run_dir)
    header, ops = read(run_dir)
    try:
        session = connect(tracking_uri or header["tracking_uri"], run_dir, header.get("run_id"))
    except ImportError as exc:
        raise TrackerError(
            "Replaying an MLflow spool needs mlflow", hint="pip install 'verifily-train[mlflow]'"
        ) from exc
    delivered, error = 0, None
    for op in ops:
        try:
            deliver(session, op)
        except Exception as exc:  # noqa: BLE001 - every vendor error means "not delivered yet"
            error = f"{op['op']}: {exc}"
            break
        delivered += 1
    remaining = ops[delivered:]
    if remaining:
        # keep the undelivered rest, bound to the run now open (its `open` may just have been delivered)
        rest = [{**header, "run_id": session.run_id, "error": error}, *remaining]
        atomic_write_text(run_dir / SPOOL, "".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rest))
    else:
        (run_dir / SPOOL).unlink()
    return ReplayReport(delivered, len(remaining), session.run_id, error)
