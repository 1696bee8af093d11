"""The ``reproduce --verify-only`` use case: recompute a run's hash chain and compare it.

Everything is read through the :class:`ArtifactStore` port, so the check works on any store; the
current environment comes from the caller (``ModelBackend.environment()``), which keeps this use
case free of frameworks. Data files are read at the resolved absolute paths recorded in
``training_info.json`` (``config.yaml`` keeps the paths as the user wrote them).

A run folder whose ``config.yaml`` was edited or deleted, or no longer parses, is a FAIL naming
``config.yaml``, not a crash: tampering is exactly what this check exists to report. A run without
``hashes.json`` cannot be checked at all and is a ``StoreError``.
"""

from __future__ import annotations

import hashlib
from typing import Any, List, Mapping, Optional, Tuple

import yaml

from verifily_core.config import TrainConfig
from verifily_core.config.yaml_load import safe_load
from verifily_core.domain.hashchain import (
    PREFIX,
    HashChain,
    ReproduceResult,
    combine_data_hash,
    config_hash,
    environment_hash,
    hash_artifacts,
    hash_data_files,
    reproducibility_hash,
    short,
    verify_chain,
)
from verifily_core.domain.runs import CONFIG_FILE, ENVIRONMENT, HASHES, TRAINING_INFO
from verifily_core.errors import ConfigError, StoreError
from verifily_core.ports.artifact_store import ArtifactStore

_LABELS = {
    "config_hash": "Config hash",
    "data_hash": "Data hash",
    "environment_hash": "Environment hash",
    "artifacts": "Artifacts",
}
_HASH_FIELDS = ("config_hash", "data_hash", "environment_hash")
_LABEL_WIDTH = len("Environment hash: ")


def verify(store: ArtifactStore, run_id: str, *, environment: Mapping[str, str]) -> ReproduceResult:
    """Check run ``run_id`` of ``store`` against its ``hashes.json`` without retraining.

    Artifacts are checked file by file as recorded: a recorded file that changed or vanished
    fails; a file added to the run folder after it was sealed is not covered.
    """
    store.location(run_id)  # RunNotFoundError with the store's message when there is no such run
    if not store.exists(run_id, HASHES):
        raise StoreError(
            f"Run {run_id} has no {HASHES}: there is no hash chain to verify.",
            hint="Only runs made by `verifily train` (including --dry-run) can be verified.",
        )
    recorded = HashChain.from_dict(store.read_json(run_id, HASHES))
    c_hash, seed, config_problem = _current_config_hash(store, run_id, recorded.seed)
    records = hash_data_files(_data_files(store, run_id))
    d_hash, e_hash = combine_data_hash(records), environment_hash(environment)
    current = HashChain(
        c_hash,
        d_hash,
        e_hash,
        reproducibility_hash(c_hash, d_hash, e_hash, seed),
        seed,
        records,
        hash_artifacts(store.local_dir(run_id), list(recorded.artifacts)),
    )
    recorded_env = store.read_json(run_id, ENVIRONMENT) if store.exists(run_id, ENVIRONMENT) else None
    result = verify_chain(
        recorded, current, run_id=run_id, recorded_env=_strings(recorded_env), current_env=environment
    )
    if config_problem:
        result.findings["config_hash"] = [config_problem]
    return result


def _current_config_hash(
    store: ArtifactStore, run_id: str, recorded_seed: int
) -> Tuple[str, int, Optional[str]]:
    """``(hash, seed, problem)`` of the frozen config; an unreadable one hashes its raw text, and a
    missing one has the empty hash (shown as ``missing``), so that either differs from the record."""
    if not store.exists(run_id, CONFIG_FILE):
        return "", recorded_seed, f"{CONFIG_FILE} is missing"
    text = store.read_text(run_id, CONFIG_FILE)
    try:
        config = TrainConfig.from_dict(safe_load(text), source=store.local_dir(run_id) / CONFIG_FILE)
    except (yaml.YAMLError, ConfigError) as exc:
        raw = PREFIX + hashlib.sha256(text.encode("utf-8")).hexdigest()
        reason = str(exc).splitlines()[0]
        return raw, recorded_seed, f"{CONFIG_FILE} is no longer a valid config: {reason}"
    return config_hash(config), config.seed, None


def _data_files(store: ArtifactStore, run_id: str) -> List[Tuple[str, str]]:
    """The run's data files as ``(role, absolute path)`` from ``training_info.json``, in chain order."""
    info = store.read_json(run_id, TRAINING_INFO)
    files = info.get("data_files") if isinstance(info, Mapping) else None
    if not isinstance(files, Mapping):
        raise StoreError(f"{TRAINING_INFO} of run {run_id} lacks 'data_files': cannot find its data.")
    train = files.get("train") or []
    listed = [("train", str(p)) for p in ([train] if isinstance(train, str) else train)]
    return listed + [(role, str(files[role])) for role in ("val", "test") if files.get(role)]


def _strings(env: Any) -> Optional[Mapping[str, str]]:
    return {str(k): str(v) for k, v in env.items()} if isinstance(env, Mapping) else None


def report_lines(result: ReproduceResult) -> List[str]:
    """The guide's report: one line per check, detail lines under each non-PASS one, the verdict."""
    lines = [f"Reproducibility check: {result.run_id}"]
    for name, status in result.checks.items():
        label = (_LABELS.get(name) or name.replace("_", " ").capitalize()) + ":"
        suffix = _suffix(result, name, status)
        lines.append(f"  {label.ljust(_LABEL_WIDTH)}{status}{suffix}")
        if status != "PASS":
            lines += [f"    {note}" for note in result.findings.get(name, [])]
    lines.append(f"  {'Overall:'.ljust(_LABEL_WIDTH)}{result.verdict}")
    return lines


def _suffix(result: ReproduceResult, name: str, status: str) -> str:
    recorded, current = result.recorded, result.current
    if recorded is None or current is None:
        return ""
    if name in _HASH_FIELDS:
        was, now = getattr(recorded, name), getattr(current, name)
        return f" ({short(was)})" if was == now else f" ({short(was)} != {short(now)})"
    if name == "artifacts":
        total = len(recorded.artifacts)
        bad = len(result.findings.get(name, []))
        return f" ({total} files)" if status == "PASS" else f" ({bad} of {total} files changed or missing)"
    return ""


__all__ = ["report_lines", "verify"]
