"""MLflow tracking: the ``mlflow:`` section (tracking URI, experiment, run name, tags, log_model).

One MLflow run per training run. At start: the run (named after the Verifily run id unless
``run_name`` says otherwise, tagged ``verifily.run_id``, the task, the base model and every hash of
``hashes.json``) and the flattened config as params. During training: every metric at its step.
At the end: the final figures (``final/...``), the evaluation per slice
(``slice/<key>/<value>/<metric>``), ``hashes.json`` and the evaluation files as artifacts, and, with
``log_model``, the adapter logged and registered as a model version carrying the hashes.

Where: ``mlflow.tracking_uri``, else ``MLFLOW_TRACKING_URI``, else a SQLite store in ``mlruns/``
beside the runs folder (MLflow 3 refuses its old file store by default). The MLflow run id and its
UI link are written to the run folder's ``tracking.json`` for the dashboard and ``compare-cmd``.

Why a failing server never fails training, and costs seconds: the first failed call is reported
once (a warning naming the server, the error and the spool), and from then on every operation goes
to ``mlflow_spool.jsonl`` in the run folder without touching the network; ``spool.replay`` sends
them later. MLflow's HTTP retries are bounded (``delivery.HTTP_ENVIRONMENT``). mlflow not installed
is not an error either: the run goes on without it, as with wandb.
"""

from __future__ import annotations

import importlib.util
import json
import logging
import math
import os
import re
import time
from pathlib import Path
from typing import Any, Dict, Mapping, Optional

from verifily_adapters.mlflow_tracker.delivery import Op, Session, connect, deliver, plain
from verifily_adapters.mlflow_tracker.spool import Spool
from verifily_core.config import TrainConfig
from verifily_core.domain.runs import EVAL_RESULTS, HARD_EXAMPLES, HASHES, MLFLOW_SPOOL
from verifily_core.ports.tracker import Tracker

logger = logging.getLogger("verifily")

MISSING_MESSAGE = "mlflow not installed, disabling MLflow logging (pip install 'verifily-train[mlflow]')"
LOCAL_FOLDER = "mlruns"
HASH_KEYS = ("config_hash", "data_hash", "environment_hash", "reproducibility_hash")
_NAME_UNSAFE = re.compile(r"[^\w\-. :/]+")  # MLflow metric names: letters, digits, _ - . space : /


class MlflowTracker(Tracker):
    """Logs a run to MLflow; after the first failure, spools it to the run folder instead."""

    PLUGIN_NAME = "mlflow"

    def __init__(self, config: TrainConfig, run_dir: Path) -> None:
        super().__init__(config, run_dir)
        self._session: Optional[Session] = None
        self._spool: Optional[Spool] = None
        self._run_id = ""
        self._last_step = 0

    def start(self, run_id: str, config: Mapping[str, Any]) -> None:
        if importlib.util.find_spec("mlflow") is None:
            logger.warning(MISSING_MESSAGE)
            return
        uri = tracking_uri(self.config, self.run_dir)
        self._session = connect(uri, self.run_dir)
        section, self._run_id = self.config.mlflow, run_id
        local = _local_root(self.config, self.run_dir)
        self._emit(
            {
                "op": "open",
                "experiment": section.experiment,
                "run_name": section.run_name or run_id,
                "tags": {**(section.tags or {}), **self._run_tags()},  # a user tag cannot mask a hash
                "artifact_location": (local / "artifacts").as_uri() if uri == _sqlite_uri(local) else None,
            }
        )
        self._emit({"op": "params", "params": plain(config)})

    def log(self, metrics: Mapping[str, float], step: int) -> None:
        if self._session is None:
            return
        self._last_step = max(self._last_step, step)
        self._log_metrics(metrics, step)

    def log_artifact(self, path: Path, name: str) -> None:
        """With ``mlflow.log_model``: log the folder and register it as a model version."""
        if self._session is None or not self.config.mlflow.log_model:
            return
        section = self.config.mlflow
        self._emit(
            {
                "op": "model",
                "path": str(Path(path).relative_to(self.run_dir)),
                "dest": name,
                "name": section.registered_model or section.experiment,
                "tags": self._run_tags(),
            }
        )

    def finish(self, summary: Mapping[str, Any]) -> None:
        if self._session is None:
            return
        final = {f"final/{k}": v for k, v in _flat(summary).items()}
        self._log_metrics({**final, **self._slice_metrics()}, self._last_step)
        for relpath, dest in ((HASHES, None), (EVAL_RESULTS, "eval"), (HARD_EXAMPLES, "eval")):
            if (self.run_dir / relpath).is_file():
                self._emit({"op": "artifact", "path": relpath, "dest": dest})
        self._emit({"op": "close", "status": "FINISHED"})
        self._session = None
        if self._spool is not None:
            self._spool.close()

    # ------------------------------------------------------------------ internals
    def _emit(self, op: Op) -> None:
        """Deliver now, or spool: after the first failure nothing more goes to the network."""
        assert self._session is not None
        if self._spool is None:
            try:
                deliver(self._session, op)
                return
            except Exception as exc:  # noqa: BLE001 - any failure of the tracker must not fail training
                error = f"{type(exc).__name__}: {_first_line(exc)}"
                self._spool = Spool(self.run_dir, self._session.tracking_uri, self._session.run_id, error)
                logger.warning(
                    "MLflow tracking at %s failed (%s): the rest of this run's MLflow logging is "
                    "spooled to %s; send it once the server is back with "
                    "verifily_adapters.mlflow_tracker.spool.replay(%r)",
                    self._session.tracking_uri,
                    error,
                    self.run_dir / MLFLOW_SPOOL,
                    str(self.run_dir),
                )
        self._spool.append(op)

    def _log_metrics(self, metrics: Mapping[str, Any], step: int) -> None:
        scalars = {
            metric_name(k): float(v) for k, v in metrics.items() if _is_number(v) and math.isfinite(float(v))
        }
        if scalars:
            self._emit(
                {"op": "metrics", "step": step, "timestamp": int(time.time() * 1000), "metrics": scalars}
            )

    def _run_tags(self) -> Dict[str, str]:
        hashes = _read_json(self.run_dir / HASHES)
        tags = {
            "verifily.run_id": self._run_id or self.run_dir.name,
            "verifily.task": self.config.task,
            "verifily.base_model": self.config.base_model,
        }
        tags.update({f"verifily.{k}": str(hashes[k]) for k in HASH_KEYS if hashes.get(k)})
        return tags

    def _slice_metrics(self) -> Dict[str, Any]:
        """``slice/<key>/<value>/<metric>`` for every slice of ``eval_results.json``."""
        slices = _read_json(self.run_dir / EVAL_RESULTS).get("slices")
        out: Dict[str, Any] = {}
        if not isinstance(slices, Mapping):
            return out
        for key, values in slices.items():
            for value, cell in values.items() if isinstance(values, Mapping) else ():
                for metric, number in cell.items() if isinstance(cell, Mapping) else ():
                    out[f"slice/{key}/{value}/{metric}"] = number
        return out


def tracking_uri(config: TrainConfig, run_dir: Path) -> str:
    """``mlflow.tracking_uri``, else ``MLFLOW_TRACKING_URI``, else the local store beside the runs."""
    uri = config.mlflow.tracking_uri or os.environ.get("MLFLOW_TRACKING_URI")
    if uri:
        return uri
    root = _local_root(config, run_dir)
    root.mkdir(parents=True, exist_ok=True)
    return _sqlite_uri(root)


def _local_root(config: TrainConfig, run_dir: Path) -> Path:
    """``mlruns/`` beside the runs folder (the run folder's parent is the runs folder)."""
    return Path(run_dir).resolve().parent.parent / LOCAL_FOLDER


def _sqlite_uri(root: Path) -> str:
    return f"sqlite:///{root / 'mlflow.db'}"


def metric_name(name: str) -> str:
    """A name MLflow accepts: other characters (``=``, ``,``, non-ASCII...) become ``_``."""
    return _NAME_UNSAFE.sub("_", name)[:250]


def _flat(data: Mapping[str, Any], prefix: str = "") -> Dict[str, Any]:
    out: Dict[str, Any] = {}
    for key, value in data.items():
        if isinstance(value, Mapping):
            out.update(_flat(value, f"{prefix}{key}/"))
        else:
            out[f"{prefix}{key}"] = value
    return out


def _is_number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def _read_json(path: Path) -> Dict[str, Any]:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    return data if isinstance(data, dict) else {}


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    return text[0][:300] if text else ""
