"""What the MLflow tracker sends, as plain operations, and how each one reaches MLflow.

Why operations rather than direct client calls: one JSON-able operation is either delivered at once
or, once the tracking server has failed, written to the run's spool (``spool.py``); a later replay
delivers the spooled ones through this same code, so a spooled run reaches the server exactly as a
live one would have.

Operations (``op`` is the kind): ``open`` (experiment, run name, tags), ``params``, ``metrics`` (at a
step, with the time they were logged), ``tags``, ``artifact`` (a run-folder file or folder),
``model`` (a folder logged and registered as a model version) and ``close``.
"""

from __future__ import annotations

import json
import logging
import os
from contextvars import ContextVar
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Dict, List, Mapping, Optional
from urllib.parse import urlsplit, urlunsplit

from verifily_adapters.atomic import atomic_write_text
from verifily_core.domain.runs import TRACKING

Op = Dict[str, Any]
KEY = "mlflow"  # this tracker's entry in the run folder's tracking.json

# MLflow's own HTTP defaults retry 7 times with exponential backoff (minutes against a dead server)
# and wait 120 s for an answer. Training must not stall on a tracker, so unless the user set them,
# a dead server costs a refused connection and one retry, a hung one at most two 10 s waits.
HTTP_ENVIRONMENT = {
    "MLFLOW_HTTP_REQUEST_MAX_RETRIES": "1",
    "MLFLOW_HTTP_REQUEST_BACKOFF_FACTOR": "1",
    "MLFLOW_HTTP_REQUEST_TIMEOUT": "10",
    # train() prints nothing: no "View run at" line on stdout, no INFO chatter on stderr
    "MLFLOW_SUPPRESS_PRINTING_URL_TO_STDOUT": "true",
    "MLFLOW_LOGGING_LEVEL": "WARNING",
}
_BATCH = {"params": 100, "tags": 100, "metrics": 1000}  # MLflow's per-request limits


@dataclass
class Session:
    """A client bound to one tracking URI and run folder; ``run_id`` is the MLflow run once open."""

    client: Any
    tracking_uri: str
    run_dir: Path
    run_id: Optional[str] = None


def connect(tracking_uri: str, run_dir: Path, run_id: Optional[str] = None) -> Session:
    """A session on ``tracking_uri`` (its model registry too); imports mlflow (ImportError if absent)."""
    for name, value in HTTP_ENVIRONMENT.items():
        os.environ.setdefault(name, value)
    from mlflow import MlflowClient

    return Session(
        MlflowClient(tracking_uri=tracking_uri, registry_uri=tracking_uri), tracking_uri, run_dir, run_id
    )


class _QuietRetry(logging.Filter):
    """Drops urllib3's "Retrying ..." warning while an operation is sent: a failure that outlives
    the retry is reported once by the tracker, a retry that succeeds is no news."""

    def filter(self, record: logging.LogRecord) -> bool:
        return not (_SENDING.get() and record.getMessage().startswith("Retrying"))


_SENDING: ContextVar[bool] = ContextVar("mlflow_sending", default=False)
_QUIET_RETRY = _QuietRetry()


def deliver(session: Session, op: Op) -> None:
    """Send one operation; any exception means it did not (fully) arrive."""
    retries = logging.getLogger("urllib3.connectionpool")
    if _QUIET_RETRY not in retries.filters:
        retries.addFilter(_QUIET_RETRY)
    token = _SENDING.set(True)
    try:
        _HANDLERS[op["op"]](session, op)
    finally:
        _SENDING.reset(token)


def _open(session: Session, op: Op) -> None:
    client = session.client
    experiment = client.get_experiment_by_name(op["experiment"])
    experiment_id = (
        experiment.experiment_id
        if experiment is not None
        else client.create_experiment(op["experiment"], artifact_location=op.get("artifact_location"))
    )
    run = client.create_run(experiment_id, run_name=op["run_name"], tags=op["tags"])
    session.run_id = run.info.run_id
    record_link(
        session.run_dir,
        tracking_uri=shown_uri(session.tracking_uri),
        experiment_id=experiment_id,
        run_id=run.info.run_id,
        url=run_url(session.tracking_uri, experiment_id, run.info.run_id),
    )


def _batch(kind: str) -> Callable[[Session, Op], None]:
    def send(session: Session, op: Op) -> None:
        from mlflow.entities import Metric, Param, RunTag

        items: List[Any]
        if kind == "params":
            items = [Param(k, v) for k, v in op["params"].items()]
        elif kind == "tags":
            items = [RunTag(k, v) for k, v in op["tags"].items()]
        else:
            items = [Metric(k, v, op["timestamp"], op["step"]) for k, v in op["metrics"].items()]
        size = _BATCH[kind]
        for i in range(0, len(items), size):
            session.client.log_batch(_run_id(session), **{kind: items[i : i + size]})

    return send


def _artifact(session: Session, op: Op) -> None:
    source = session.run_dir / op["path"]
    if source.is_dir():
        session.client.log_artifacts(_run_id(session), str(source), op.get("dest"))
    else:
        session.client.log_artifact(_run_id(session), str(source), op.get("dest"))


def _model(session: Session, op: Op) -> None:
    """Log the folder, then register it as a new version of ``op["name"]`` tagged with the hashes."""
    from mlflow.exceptions import MlflowException

    client, run_id = session.client, _run_id(session)
    _artifact(session, op)
    try:
        client.get_registered_model(op["name"])
    except MlflowException:
        client.create_registered_model(op["name"])
    source = f"{client.get_run(run_id).info.artifact_uri.rstrip('/')}/{op['dest']}"
    version = client.create_model_version(
        op["name"], source, run_id=run_id, tags=op["tags"], await_creation_for=0
    )
    record_link(session.run_dir, registered_model=op["name"], model_version=str(version.version))


def _close(session: Session, op: Op) -> None:
    session.client.set_terminated(_run_id(session), op["status"])


_HANDLERS: Dict[str, Callable[[Session, Op], None]] = {
    "open": _open,
    "params": _batch("params"),
    "tags": _batch("tags"),
    "metrics": _batch("metrics"),
    "artifact": _artifact,
    "model": _model,
    "close": _close,
}


def _run_id(session: Session) -> str:
    if session.run_id is None:
        raise RuntimeError("no MLflow run is open (its creation did not reach the server)")
    return session.run_id


# ---------------------------------------------------------------------- the run folder's record


def record_link(run_dir: Path, **fields: Any) -> None:
    """Merge ``fields`` into this tracker's entry of ``tracking.json`` (atomically)."""
    path = run_dir / TRACKING
    data = read_links(run_dir)
    data[KEY] = {**data.get(KEY, {}), **fields}
    atomic_write_text(path, json.dumps(data, indent=2, sort_keys=True) + "\n")


def read_links(run_dir: Path) -> Dict[str, Any]:
    """``tracking.json`` as a mapping; a missing or unreadable file is an empty one."""
    try:
        data = json.loads((run_dir / TRACKING).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    return data if isinstance(data, dict) else {}


def run_url(tracking_uri: str, experiment_id: str, run_id: str) -> Optional[str]:
    """The MLflow UI page of a run, for an HTTP(S) tracking server (None for a local store)."""
    if urlsplit(tracking_uri).scheme not in ("http", "https"):
        return None
    return f"{shown_uri(tracking_uri).rstrip('/')}/#/experiments/{experiment_id}/runs/{run_id}"


def shown_uri(tracking_uri: str) -> str:
    """The URI without any ``user:password@`` part: it is written into the run folder."""
    parts = urlsplit(tracking_uri)
    if not parts.hostname or "@" not in parts.netloc:
        return tracking_uri
    host = parts.hostname + (f":{parts.port}" if parts.port else "")
    return urlunsplit((parts.scheme, host, parts.path, parts.query, parts.fragment))


def plain(values: Mapping[str, Any]) -> Dict[str, str]:
    """Param/tag values as MLflow stores them: text (lists and None as JSON)."""
    return {k: v if isinstance(v, str) else json.dumps(v) for k, v in values.items()}
