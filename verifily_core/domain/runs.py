"""Run folders as data: file names, run ids, statuses and the ``run_meta.json`` record.

The names live here, once, so that the train service, the evaluator, ``compare``, ``reproduce``
and the dashboard can never disagree on where a file is.
"""

from __future__ import annotations

import itertools
import re
import secrets
from dataclasses import asdict, dataclass, field
from datetime import datetime, timezone
from typing import Any, Dict, Iterator, Literal, Optional

RUN_META = "run_meta.json"
CONFIG_FILE = "config.yaml"
HASHES = "hashes.json"
ENVIRONMENT = "environment.json"
TRAINING_INFO = "training_info.json"
TRAIN_SUMMARY = "train_summary.json"
USAGE_SUMMARY = "usage_summary.json"
EVAL_DIR = "eval"
EVAL_RESULTS = "eval/eval_results.json"
HARD_EXAMPLES = "eval/hard_examples.jsonl"
PREDICTIONS = "eval/predictions.jsonl"
ADAPTER_DIR = "adapter"
MODEL_DIR = "model"
TOKENIZER_DIR = "tokenizer"
CHECKPOINTS_DIR = "checkpoints"
LOGS_DIR = "logs"
BILLING_OUTBOX = "billing_outbox.jsonl"
TRACKING = "tracking.json"  # tracker name -> its run there ({"run_id", "url", ...}), for links
MLFLOW_SPOOL = "mlflow_spool.jsonl"  # MLflow operations a dead server did not take, to replay
RUN_LOCK = ".lock"  # held (flock) by the process training in the folder
HEARTBEAT = ".heartbeat.json"  # that process: pid, host, start and last heartbeat

# A dry run's folder: ``dryrun_<day>_<name>``, so the real run of the same config keeps the plain
# ``run_<day>_<name>`` id, and listings can leave dry runs out without reading every run_meta.json.
DRY_RUN_PREFIX = "dryrun"

RunStatus = Literal["running", "completed", "failed", "interrupted", "dry_run"]
_NAME_SAFE = re.compile(r"[^A-Za-z0-9._-]+")


_EVAL_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_-]{0,63}$")


@dataclass(frozen=True)
class EvalFiles:
    """Where one evaluation of a run lives. The main one (``name`` None) is the run's own test set
    in ``eval/``; an evaluation on other data lives in ``eval/<name>/``, so it never replaces the
    run's headline result."""

    name: Optional[str] = None

    @property
    def folder(self) -> str:
        return EVAL_DIR if self.name is None else f"{EVAL_DIR}/{self.name}"

    @property
    def results(self) -> str:
        return f"{self.folder}/eval_results.json"

    @property
    def predictions(self) -> str:
        return f"{self.folder}/predictions.jsonl"

    @property
    def hard_examples(self) -> str:
        return f"{self.folder}/hard_examples.jsonl"

    @property
    def label(self) -> str:
        """How listings name it: ``main (eval/)`` or ``<name> (eval/<name>/)``."""
        return f"{self.name or 'main'} ({self.folder}/)"


def eval_name_problem(name: str) -> Optional[str]:
    """Why ``name`` cannot name an evaluation folder (None when it can)."""
    if name == "main":
        return "'main' is the run's own evaluation (eval/); leave the name out to use it"
    if not _EVAL_NAME.match(name):
        return "use letters, digits, '-' and '_' (at most 64, starting with a letter or digit)"
    return None


def utc_now() -> datetime:
    return datetime.now(timezone.utc)


def iso(ts: datetime) -> str:
    """``2026-02-08T14:30:22Z``: the guide's timestamp form."""
    return ts.astimezone(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def safe_name(name: str) -> str:
    """A user's ``--name`` made safe as part of a folder name (no separators, no dots first)."""
    cleaned = _NAME_SAFE.sub("-", name.strip()).strip(".-")
    return cleaned or "run"


def run_id_for(ts: datetime, name: Optional[str], token: str, *, prefix: str = "run") -> str:
    """``run_YYYYMMDD_HHMMSS_<token>`` or, with a name, ``run_YYYYMMDD_<name>`` (the guide's forms)."""
    day = ts.astimezone(timezone.utc).strftime("%Y%m%d")
    if name:
        return f"{prefix}_{day}_{safe_name(name)}"
    return f"{prefix}_{day}_{ts.astimezone(timezone.utc).strftime('%H%M%S')}_{token}"


def run_id_candidates(name: Optional[str], *, prefix: str = "run") -> Iterator[str]:
    """Ids to try in turn for a new run; a store claims the first it can create atomically.

    A named run tries ``run_YYYYMMDD_<name>``, then ``_2``, ``_3``... (the guide's examples); an
    unnamed one draws a fresh time and random token each time, so a clash within one second is
    resolved without ever reusing a folder.
    """
    first = run_id_for(utc_now(), name, secrets.token_hex(3), prefix=prefix)
    yield first
    for n in itertools.count(2):
        yield f"{first}_{n}" if name else run_id_for(utc_now(), None, secrets.token_hex(3), prefix=prefix)


def is_dry_run_id(run_id: str) -> bool:
    """Whether ``run_id`` names a dry run's folder (hidden from run listings by default)."""
    return run_id.startswith(DRY_RUN_PREFIX + "_")


def is_plain_run_id(run_id: str) -> bool:
    """Whether a user-given run id is one folder name that cannot climb out of the runs root."""
    return bool(run_id) and run_id not in (".", "..") and not any(c in run_id for c in "/\\\x00")


@dataclass
class RunRecord:
    """The content of ``run_meta.json``: the source of truth for a run's state."""

    run_id: str
    status: RunStatus
    task: str
    base_model: str
    seed: int
    started_at: str
    dataset_version: str = "local"
    device: Optional[str] = None
    name: Optional[str] = None
    completed_at: Optional[str] = None
    duration_seconds: Optional[float] = None
    metrics: Dict[str, Any] = field(default_factory=dict)
    config_hash: Optional[str] = None
    data_hash: Optional[str] = None
    reproducibility_hash: Optional[str] = None
    error: Optional[str] = None
    warnings: list[str] = field(default_factory=list)
    resume_hint: Optional[str] = None

    def to_dict(self) -> Dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: Dict[str, Any]) -> RunRecord:
        known = {k: v for k, v in data.items() if k in cls.__dataclass_fields__}
        return cls(**known)
