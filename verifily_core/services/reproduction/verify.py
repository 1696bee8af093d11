"""The ``reproduce --verify-only`` use case: recompute everything a run's seal claims, and compare.

Verification reads files and never trusts a record: each check recomputes a value from the bytes on
disk and compares it with what ``hashes.json`` recorded.

* ``config_hash`` / ``data_hash`` / ``environment_hash`` — the guide's chain (environment: WARN).
  Data files are read at the resolved paths recorded in ``hashes.json``.
* ``base_model`` — the files of the model a re-run would load, hashed again (``domain.model_digest``).
* ``reproducibility_hash`` — the recorded hashes agree with each other and with their copies:
  ``reproducibility_hash`` follows from its parts, ``data_hash`` from the per-file records, and
  ``run_meta.json``, ``training_info.json``, ``environment.json`` and the config's seed say the same.
* ``artifacts`` — the manifest: every file of the run folder, an exact set (``domain.manifest``).
* ``run_status`` — only a ``completed`` run (or a dry run, which has no outputs) has sealed outputs.
* ``signature`` — with a public key, the signed statement must verify and cover these exact
  ``hashes.json`` bytes; that is what detects a consistently rewritten ``hashes.json``.

The current environment and the model locator come from the caller (``ModelBackend``), which keeps
this use case free of frameworks. A malformed ``config.yaml`` is a FAIL naming it, not a crash; a run
without ``hashes.json`` cannot be checked at all and is a ``StoreError``.
"""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import Any, Callable, Dict, List, Mapping, Optional, Tuple

import yaml

from verifily_core.config import TrainConfig
from verifily_core.config.yaml_load import safe_load
from verifily_core.domain import provenance
from verifily_core.domain.data_files import role_files
from verifily_core.domain.hashchain import (
    PREFIX,
    CheckStatus,
    HashChain,
    ReproduceResult,
    combine_data_hash,
    config_hash,
    environment_hash,
    hash_data_files,
    overall_verdict,
    reproducibility_hash,
    short,
    verify_chain,
)
from verifily_core.domain.manifest import PROVENANCE, manifest_findings
from verifily_core.domain.model_digest import (
    ModelSource,
    base_model_findings,
    combine,
    hash_base_model,
    local_model_source,
)
from verifily_core.domain.runs import CONFIG_FILE, ENVIRONMENT, HASHES, RUN_META, TRAINING_INFO
from verifily_core.errors import ConfigError, StoreError
from verifily_core.ports.artifact_store import ArtifactStore

Locate = Callable[[str], Optional[ModelSource]]
_LABELS = {
    "config_hash": "Config hash",
    "data_hash": "Data hash",
    "environment_hash": "Environment hash",
    "base_model": "Base model",
    "reproducibility_hash": "Repro hash",
    "artifacts": "Artifacts",
    "run_status": "Run status",
    "signature": "Signature",
}
_HASH_FIELDS = ("config_hash", "data_hash", "environment_hash")
_LABEL_WIDTH = len("Environment hash: ")  # the guide's report layout
_SEALED_STATUSES = ("completed", "dry_run")


def verify(
    store: ArtifactStore,
    run_id: str,
    *,
    environment: Mapping[str, str],
    locate_model: Locate = local_model_source,
    public_key: Optional[Path] = None,
) -> ReproduceResult:
    """Check run ``run_id`` of ``store`` without retraining; see the module docstring.

    ``public_key`` (a PEM Ed25519 public key) makes the ``signature`` check mandatory: an unsigned
    run, or one whose statement does not verify with that key, FAILs.
    """
    store.location(run_id)  # RunNotFoundError with the store's message when there is no such run
    if not store.exists(run_id, HASHES):
        raise StoreError(
            f"Run {run_id} has no {HASHES}: there is no hash chain to verify.",
            hint="Only runs made by `verifily train` (including --dry-run) can be verified.",
        )
    recorded = HashChain.from_dict(store.read_json(run_id, HASHES))
    c_hash, seed, config_problem = _current_config_hash(store, run_id, recorded.seed)
    records = hash_data_files([(r.role, r.path) for r in recorded.data_files])
    d_hash, e_hash = combine_data_hash(records), environment_hash(environment)
    files, problems = store.file_digests(run_id)
    current = HashChain(
        c_hash, d_hash, e_hash, reproducibility_hash(c_hash, d_hash, e_hash, seed), seed, records, files
    )
    recorded_env = _read(store, run_id, ENVIRONMENT)
    result = verify_chain(
        recorded, current, run_id=run_id, recorded_env=_strings(recorded_env), current_env=environment
    )
    if config_problem:
        result.findings["config_hash"] = [config_problem]
    _add(result, "base_model", *_base_model(recorded, locate_model))
    _add(result, "reproducibility_hash", *_records(store, run_id, recorded, seed, recorded_env))
    notes = manifest_findings(recorded.artifacts, files, problems)
    _add(result, "artifacts", "FAIL" if notes else "PASS", notes)
    _add(result, "run_status", *_status(store, run_id))
    if public_key is not None or store.exists(run_id, PROVENANCE):
        _add(result, "signature", *_signature(store, run_id, recorded, public_key))
    result.verdict = overall_verdict(result.checks)
    return result


def _add(result: ReproduceResult, name: str, status: CheckStatus, notes: List[str]) -> None:
    result.checks[name] = status
    if notes:
        result.findings[name] = notes


def _read(store: ArtifactStore, run_id: str, relpath: str) -> Any:
    """A run file's JSON, or None when it is absent or unreadable (the manifest check names it)."""
    try:
        return store.read_json(run_id, relpath) if store.exists(run_id, relpath) else None
    except StoreError:
        return None


def _current_config_hash(
    store: ArtifactStore, run_id: str, recorded_seed: int
) -> Tuple[str, int, Optional[str]]:
    """``(hash, seed, problem)`` of the frozen config; an unreadable one hashes its raw text, and a
    missing one has the empty hash (shown as ``missing``), so that either differs from the record."""
    if not store.exists(run_id, CONFIG_FILE):
        return "", recorded_seed, f"{CONFIG_FILE} is missing"
    try:
        text = store.read_text(run_id, CONFIG_FILE)
    except StoreError as exc:
        return "", recorded_seed, f"{CONFIG_FILE} cannot be read: {exc}"
    try:
        config = TrainConfig.from_dict(safe_load(text), source=store.local_dir(run_id) / CONFIG_FILE)
    except (yaml.YAMLError, ConfigError) as exc:
        raw = PREFIX + hashlib.sha256(text.encode("utf-8")).hexdigest()
        reason = str(exc).splitlines()[0]
        return raw, recorded_seed, f"{CONFIG_FILE} is no longer a valid config: {reason}"
    return config_hash(config), config.seed, None


def _base_model(recorded: HashChain, locate: Locate) -> Tuple[CheckStatus, List[str]]:
    """Hash the base model a re-run would load (the recorded reference) and compare its files."""
    rec = recorded.base_model
    if rec is None:
        return "WARN", ["no base model hashes recorded (a run made before they were)"]
    notes = base_model_findings(rec, hash_base_model(rec.reference, locate(rec.reference)))
    return ("FAIL" if notes else "PASS"), notes


def _records(
    store: ArtifactStore, run_id: str, recorded: HashChain, config_seed: int, env: Any
) -> Tuple[CheckStatus, List[str]]:
    """Recompute what the recorded hashes claim of each other, and compare every copy of them."""
    notes: List[str] = []
    expected = reproducibility_hash(
        recorded.config_hash, recorded.data_hash, recorded.environment_hash, recorded.seed
    )
    if expected != recorded.reproducibility_hash:
        notes.append(
            f"{HASHES}: reproducibility_hash {short(recorded.reproducibility_hash)} does not follow "
            f"from its parts ({short(expected)})"
        )
    if combine_data_hash(recorded.data_files) != recorded.data_hash:
        notes.append(f"{HASHES}: data_hash does not follow from its data_files records")
    if config_seed != recorded.seed:
        notes.append(f"seed: {CONFIG_FILE} says {config_seed}, {HASHES} says {recorded.seed}")
    if isinstance(env, Mapping) and environment_hash(_strings(env) or {}) != recorded.environment_hash:
        notes.append(f"{ENVIRONMENT} does not hash to the recorded environment_hash")
    model = recorded.base_model
    if model is not None and model.digest is not None and combine(model.files) != model.digest:
        notes.append(f"{HASHES}: base_model digest does not follow from its files")
    meta = _read(store, run_id, RUN_META)
    if isinstance(meta, Mapping):
        for key in ("config_hash", "data_hash", "reproducibility_hash", "seed"):
            if key in meta and meta[key] != getattr(recorded, key):
                notes.append(
                    f"{RUN_META}: {key} {_shown(meta[key])} != {HASHES}: {_shown(getattr(recorded, key))}"
                )
    notes += _training_info_findings(_read(store, run_id, TRAINING_INFO), recorded)
    return ("FAIL" if notes else "PASS"), notes


def _training_info_findings(info: Any, recorded: HashChain) -> List[str]:
    """``training_info.json`` must name the data files and base model that ``hashes.json`` hashed."""
    if not isinstance(info, Mapping):
        return [f"{TRAINING_INFO} is missing or not a JSON object"]
    notes = []
    given = info.get("data_files")
    files: Mapping[str, Any] = given if isinstance(given, Mapping) else {}
    listed = [(role, str(path)) for role, path in role_files(files)]  # val/test may be lists too
    if listed != [(r.role, r.path) for r in recorded.data_files]:
        notes.append(f"{TRAINING_INFO}: data_files differ from the files {HASHES} hashed")
    model = recorded.base_model
    if model is not None and info.get("base_model_path") != model.reference:
        notes.append(
            f"{TRAINING_INFO}: base_model_path {info.get('base_model_path')!r} is not the hashed "
            f"base model {model.reference!r}"
        )
    if "seed" in info and info["seed"] != recorded.seed:
        notes.append(f"{TRAINING_INFO}: seed {info['seed']} != {HASHES}: {recorded.seed}")
    return notes


def _status(store: ArtifactStore, run_id: str) -> Tuple[CheckStatus, List[str]]:
    meta = _read(store, run_id, RUN_META)
    status = meta.get("status") if isinstance(meta, Mapping) else None
    if status in _SEALED_STATUSES:
        return "PASS", []
    return "FAIL", [f"run status is {status or 'unknown'}: a run's outputs are sealed only when it completes"]


def _signature(
    store: ArtifactStore, run_id: str, recorded: HashChain, public_key: Optional[Path]
) -> Tuple[CheckStatus, List[str]]:
    """The signed statement must cover these exact ``hashes.json`` bytes and this file set."""
    if not store.exists(run_id, PROVENANCE):
        return "FAIL", [f"run is not signed ({PROVENANCE} is missing)"]
    try:
        payload, signatures, body = provenance.parse_envelope(store.read_text(run_id, PROVENANCE))
    except StoreError as exc:
        return "FAIL", [exc.message]
    notes = []
    if public_key is not None and not provenance.signature_valid(payload, signatures, public_key):
        notes.append(f"signature does not verify with key {provenance.public_key_id(public_key)}")
    subjects = provenance.subject_digests(body)
    actual = PREFIX + hashlib.sha256(store.read_text(run_id, HASHES).encode("utf-8")).hexdigest()
    if subjects.pop(HASHES, None) != actual:
        notes.append(f"{HASHES} changed after the run was signed")
    if subjects != recorded.artifacts:
        notes.append(f"the signed statement lists other files than {HASHES}")
    if notes:
        return "FAIL", notes
    if public_key is None:
        return "WARN", ["signed, but the signature was not checked (pass --key PUBLIC.pem)"]
    return "PASS", []


def _strings(env: Any) -> Optional[Dict[str, str]]:
    return {str(k): str(v) for k, v in env.items()} if isinstance(env, Mapping) else None


def _shown(value: Any) -> str:
    return short(value) if isinstance(value, str) else str(value)


def report_lines(result: ReproduceResult) -> List[str]:
    """The guide's report: one line per check, detail lines under each non-PASS one, the verdict."""
    lines = [f"Reproducibility check: {result.run_id}"]
    for name, status in result.checks.items():
        label = (_LABELS.get(name) or name.replace("_", " ").capitalize()) + ":"
        suffix = _suffix(result, name, status)
        lines.append(f"  {label.ljust(_LABEL_WIDTH)}{status}{suffix}")
        if status != "PASS":
            lines += [f"    {note}" for note in result.findings.get(name, [])]
    shown = result.verdict + (" (with warnings)" if result.verdict == "PASS" and result.warnings else "")
    lines.append(f"  {'Overall:'.ljust(_LABEL_WIDTH)}{shown}")
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
        if status == "PASS":
            return f" ({total} files)"
        return f" ({bad} difference{'' if bad == 1 else 's'}; {total} files sealed)"
    return ""


__all__ = ["report_lines", "verify"]
