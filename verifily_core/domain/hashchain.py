"""The reproducibility hash chain: what a run was made from, as hashes, and how to check it later.

``reproducibility_hash = SHA256(config_hash | data_hash | environment_hash | seed)`` (the guide's
section 10). Every hash is written ``sha256:<64 hex>``:

* ``config_hash`` covers :meth:`TrainConfig.canonical_json`, so key order and number spelling in the
  YAML (``2e-4`` / ``0.0002``) do not matter, but every value does, defaults included.
* ``data_hash`` covers every data file, train files in their listed order, then val, then test; each
  file contributes ``role`` and the SHA-256 of its bytes (not its path or mtime), so moving or
  touching a file keeps the hash while changing one byte breaks it. Per-file records are kept so a
  failed check can name the file that changed.
* ``environment_hash`` covers the backend's ``environment()`` facts (versions, platform, device).
  A changed environment is expected between machines, so checking it yields WARN, never FAIL.
* Extensions beyond the guide: ``artifacts`` is the manifest of the whole run folder (every file
  by SHA-256, an exact set; see ``domain.manifest``) and ``base_model`` the hashes of the files the
  run was trained from (``domain.model_digest``).
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Dict, List, Literal, Mapping, Optional, Sequence, Tuple, Union

from verifily_core.config import TrainConfig
from verifily_core.domain.data_files import resolve_data_files, role_files
from verifily_core.domain.file_digest import PREFIX, sha256_file, short
from verifily_core.domain.runs import CONFIG_FILE, HASHES
from verifily_core.errors import DataError, StoreError, UnsafePathError

if TYPE_CHECKING:
    from verifily_core.domain.model_digest import BaseModelRecord

CheckStatus = Literal["PASS", "WARN", "FAIL"]
Verdict = Literal["PASS", "FAIL"]
PathLike = Union[str, Path]


def _digest(data: bytes) -> str:
    return PREFIX + hashlib.sha256(data).hexdigest()


def files_digest(paths: Union[PathLike, Sequence[PathLike]]) -> str:
    """One file's SHA-256, or for several files (a test set given as a list) the digest of their
    digests in order: what decides whether saved predictions belong to the same test data."""
    listed = [paths] if isinstance(paths, (str, Path)) else list(paths)
    digests = [sha256_file(p) for p in listed]
    return digests[0] if len(digests) == 1 else _digest("\n".join(digests).encode("utf-8"))


def config_hash(config: TrainConfig) -> str:
    """Hash of the config's canonical form (sorted keys, typed numbers, defaults included)."""
    return _digest(config.canonical_json().encode("utf-8"))


def environment_hash(env: Mapping[str, str]) -> str:
    """Hash of the environment facts, independent of their order."""
    text = json.dumps(dict(env), sort_keys=True, separators=(",", ":"), ensure_ascii=True)
    return _digest(text.encode("utf-8"))


def reproducibility_hash(config_hash: str, data_hash: str, environment_hash: str, seed: int) -> str:
    """``SHA256("config_hash|data_hash|environment_hash|seed")``, the prefixed hashes included."""
    return _digest("|".join((config_hash, data_hash, environment_hash, str(seed))).encode("utf-8"))


# ---------------------------------------------------------------------- data files


@dataclass(frozen=True)
class DataFileRecord:
    """One data file of a run; ``sha256``/``bytes`` are None when the file is missing (at check time)."""

    role: str
    path: str
    sha256: Optional[str]
    bytes: Optional[int]

    def to_dict(self) -> Dict[str, Any]:
        return {"role": self.role, "path": self.path, "sha256": self.sha256, "bytes": self.bytes}

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> DataFileRecord:
        return cls(str(data["role"]), str(data["path"]), data.get("sha256"), data.get("bytes"))


def hash_data_files(files: Sequence[Tuple[str, PathLike]]) -> List[DataFileRecord]:
    """A record per ``(role, path)``, in order; a missing file (or one that is no regular file) gets
    a record with no hash."""
    records = []
    for role, path in files:
        p = Path(path)
        try:
            records.append(DataFileRecord(role, str(path), sha256_file(p), p.stat().st_size))
        except (DataError, UnsafePathError):  # missing, a folder, a FIFO, /proc/...: not a data file
            records.append(DataFileRecord(role, str(path), None, None))
    return records


def combine_data_hash(records: Sequence[DataFileRecord]) -> str:
    """The run's ``data_hash``: roles and file hashes in order (a missing file counts as "missing")."""
    text = "".join(f"{r.role}\t{r.sha256 or 'missing'}\n" for r in records)
    return _digest(text.encode("utf-8"))


def data_hash(files: Sequence[Tuple[str, PathLike]]) -> Tuple[str, List[DataFileRecord]]:
    """``(data_hash, records)`` for files that must all exist (``DataError`` naming a missing one)."""
    records = hash_data_files(files)
    missing = [r.path for r in records if r.sha256 is None]
    if missing:
        raise DataError("Data file not found: " + ", ".join(missing), hint="Check the paths in data_paths.")
    return combine_data_hash(records), records


def data_files_of(config: TrainConfig) -> List[Tuple[str, Path]]:
    """The config's data files as ``(role, resolved path)``: train files in order, then val, test."""
    return role_files(resolve_data_files(config))


# ---------------------------------------------------------------------- the chain


@dataclass
class HashChain:
    """The content of ``hashes.json``."""

    config_hash: str
    data_hash: str
    environment_hash: str
    reproducibility_hash: str
    seed: int
    data_files: List[DataFileRecord] = field(default_factory=list)
    artifacts: Dict[str, str] = field(default_factory=dict)
    base_model: Optional[BaseModelRecord] = None

    @classmethod
    def build(
        cls,
        config: TrainConfig,
        environment: Mapping[str, str],
        *,
        files: Optional[Sequence[Tuple[str, PathLike]]] = None,
        artifacts: Optional[Mapping[str, str]] = None,
        base_model: Optional[BaseModelRecord] = None,
    ) -> HashChain:
        """The chain of a run about to train; ``files`` defaults to the config's resolved data files."""
        d_hash, records = data_hash(files if files is not None else data_files_of(config))
        c_hash, e_hash = config_hash(config), environment_hash(environment)
        return cls(
            c_hash,
            d_hash,
            e_hash,
            reproducibility_hash(c_hash, d_hash, e_hash, config.seed),
            config.seed,
            records,
            dict(artifacts or {}),
            base_model,
        )

    def to_dict(self) -> Dict[str, Any]:
        return {
            "algorithm": "sha256",
            "formula": "reproducibility_hash = SHA256(config_hash|data_hash|environment_hash|seed)",
            "config_hash": self.config_hash,
            "data_hash": self.data_hash,
            "environment_hash": self.environment_hash,
            "reproducibility_hash": self.reproducibility_hash,
            "seed": self.seed,
            "data_files": [r.to_dict() for r in self.data_files],
            "base_model": self.base_model.to_dict() if self.base_model else None,
            "manifest": "artifacts: every file of the run folder but the few listed in "
            "docs/reproducibility.md (this file, the signature, lock and queue files)",
            "artifacts": dict(self.artifacts),
        }

    @classmethod
    def from_dict(cls, data: Any) -> HashChain:
        """Parse ``hashes.json``; ``StoreError`` naming the file and key when it is malformed."""
        from verifily_core.domain.model_digest import BaseModelRecord

        if not isinstance(data, Mapping):
            raise StoreError(f"{HASHES}: expected a JSON object, got {type(data).__name__}")
        try:
            return cls(
                config_hash=str(data["config_hash"]),
                data_hash=str(data["data_hash"]),
                environment_hash=str(data["environment_hash"]),
                reproducibility_hash=str(data["reproducibility_hash"]),
                seed=int(data["seed"]),
                data_files=[DataFileRecord.from_dict(r) for r in data.get("data_files", [])],
                artifacts={str(k): str(v) for k, v in dict(data.get("artifacts") or {}).items()},
                base_model=BaseModelRecord.from_dict(data.get("base_model")),
            )
        except KeyError as exc:
            raise StoreError(
                f"{HASHES}: missing key {exc.args[0]!r}; the file was edited or is not from Verifily Train"
            ) from None
        except (TypeError, ValueError, AttributeError) as exc:
            raise StoreError(f"{HASHES}: malformed ({exc})") from None


@dataclass
class ReproduceResult:
    """The outcome of a reproducibility check: a verdict, a status per check, and why.

    ``findings`` holds, per check name, human lines naming what changed (files, recorded vs current
    hashes); ``details`` flattens them. ``recorded``/``current`` are the chains compared, when known.
    """

    run_id: str
    verdict: Verdict
    checks: Dict[str, CheckStatus]
    findings: Dict[str, List[str]] = field(default_factory=dict)
    recorded: Optional[HashChain] = None
    current: Optional[HashChain] = None

    @property
    def details(self) -> List[str]:
        return [line for name in self.checks for line in self.findings.get(name, [])]

    @property
    def passed(self) -> bool:
        return self.verdict != "FAIL"

    @property
    def warnings(self) -> List[str]:
        """The findings of the checks that warned (a PASS may carry some: another machine)."""
        warned = [name for name, status in self.checks.items() if status == "WARN"]
        return [line for name in warned for line in self.findings.get(name, [])]

    def to_dict(self) -> Dict[str, Any]:
        return {
            "run_id": self.run_id,
            "verdict": self.verdict,
            "checks": dict(self.checks),
            "details": self.details,
            "warnings": self.warnings,
        }


def overall_verdict(checks: Mapping[str, CheckStatus]) -> Verdict:
    """FAIL if any check failed, else PASS: strictly one of the two (warnings are kept apart)."""
    return "FAIL" if "FAIL" in checks.values() else "PASS"


def verify_chain(
    recorded: HashChain,
    current: HashChain,
    *,
    run_id: str = "",
    recorded_env: Optional[Mapping[str, str]] = None,
    current_env: Optional[Mapping[str, str]] = None,
) -> ReproduceResult:
    """Compare a run's recorded chain with one recomputed now (pure: no I/O).

    Config or data changes FAIL and name ``config.yaml`` or each changed/missing data file; an
    environment change WARNs (naming the changed facts when both environments are given). The run
    folder's files, the base model and the signature are checked by ``services.reproduce``.
    """
    checks: Dict[str, CheckStatus] = {}
    findings: Dict[str, List[str]] = {}

    checks["config_hash"] = "PASS" if current.config_hash == recorded.config_hash else "FAIL"
    if checks["config_hash"] == "FAIL":
        findings["config_hash"] = [
            f"{CONFIG_FILE} changed: recorded {short(recorded.config_hash)} "
            f"!= current {short(current.config_hash)}"
        ]

    data_notes = _data_findings(recorded.data_files, current.data_files)
    if current.data_hash != recorded.data_hash and not data_notes:
        data_notes = [
            f"data changed: recorded {short(recorded.data_hash)} != current {short(current.data_hash)}"
        ]
    checks["data_hash"] = "FAIL" if data_notes else "PASS"
    if data_notes:
        findings["data_hash"] = data_notes

    checks["environment_hash"] = "PASS" if current.environment_hash == recorded.environment_hash else "WARN"
    if checks["environment_hash"] == "WARN":
        findings["environment_hash"] = _environment_findings(recorded_env, current_env)

    return ReproduceResult(run_id, overall_verdict(checks), checks, findings, recorded, current)


def _data_findings(recorded: Sequence[DataFileRecord], current: Sequence[DataFileRecord]) -> List[str]:
    notes = []
    for rec, cur in zip(recorded, current):
        if cur.sha256 is None:
            notes.append(f"{cur.role} data file missing: {cur.path}")
        elif (rec.role, rec.sha256) != (cur.role, cur.sha256):
            notes.append(
                f"{cur.role} data file changed: {cur.path}: recorded {short(rec.sha256)} "
                f"!= current {short(cur.sha256)}"
            )
    notes += [f"{r.role} data file no longer listed in the run: {r.path}" for r in recorded[len(current) :]]
    notes += [f"{c.role} data file not in the recorded chain: {c.path}" for c in current[len(recorded) :]]
    return notes


def _environment_findings(
    recorded: Optional[Mapping[str, str]], current: Optional[Mapping[str, str]]
) -> List[str]:
    if recorded is None or current is None:
        return ["environment changed (environment.json not available to name the differences)"]
    notes = [
        f"{key}: {recorded.get(key, '(absent)')} -> {current.get(key, '(absent)')}"
        for key in sorted(set(recorded) | set(current))
        if recorded.get(key) != current.get(key)
    ]
    return notes or ["environment changed"]


__all__ = [
    "CheckStatus",
    "DataFileRecord",
    "HashChain",
    "PREFIX",
    "ReproduceResult",
    "Verdict",
    "combine_data_hash",
    "config_hash",
    "data_files_of",
    "data_hash",
    "environment_hash",
    "hash_data_files",
    "overall_verdict",
    "reproducibility_hash",
    "sha256_file",
    "short",
    "verify_chain",
]
