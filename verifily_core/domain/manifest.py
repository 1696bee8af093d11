"""The manifest of a run folder: every file in it, by SHA-256, as an exact set.

``hashes.json``'s ``artifacts`` maps each run-relative path to the SHA-256 of its bytes. It covers
*every* regular file of the folder — weights, tokenizer, adapter config, predictions, hard examples,
``training_info.json``, ``run_meta.json``, summaries, usage, logs, checkpoints — except the few
listed in :data:`UNSEALED_FILES`, so a file added, removed or changed is found and named. The folder
is scanned, never the keys of ``hashes.json`` opened: a key such as ``../../etc/passwd`` or
``/proc/self/pagemap`` is reported as unsafe and never read. Symlinks and special files inside a
run folder are findings too, as is a symlink leaving it; a symlink that stays inside (wandb's
``latest-run``) is sealed by its link text.
"""

from __future__ import annotations

from pathlib import Path
from typing import Dict, List, Mapping, Optional, Sequence, Tuple, Union

from verifily_core.domain.hashchain import sha256_file, short
from verifily_core.domain.run_files import checked_relpath, scan_files
from verifily_core.domain.runs import BILLING_OUTBOX, HASHES, MLFLOW_SPOOL, TRACKING
from verifily_core.errors import UnsafePathError

#: The signed in-toto statement (a DSSE envelope, one JSON line), written beside the seal.
PROVENANCE = "provenance.intoto.jsonl"
#: The run's lock file and the prefix of its heartbeat files (``.heartbeat.json`` and its temp
#: files; see ``services.run_lock``): they change while a process holds the folder.
LOCK_FILE = ".lock"
HEARTBEAT_PREFIX = ".heartbeat"
#: Top-level files the manifest leaves out, and why: the seal cannot contain its own hash, the
#: signature covers the seal, the billing outbox is a delivery queue that ``billing flush`` rewrites
#: (each entry carries its own authentication), and lock files change while a process holds them.
#: Likewise the MLflow spool, which a replay empties, and ``tracking.json``, where a replay that
#: opens the MLflow run records it: bookkeeping about the run, not results of it.
UNSEALED_FILES = (HASHES, PROVENANCE, BILLING_OUTBOX, LOCK_FILE, MLFLOW_SPOOL, TRACKING)

#: How a symlink that stays inside the folder is sealed: by its link text, never followed.
LINK_PREFIX = "symlink:"

PathLike = Union[str, Path]


def scan_run(run_dir: PathLike, scope: Optional[Sequence[str]] = None) -> Tuple[Dict[str, str], List[str]]:
    """``(relpath -> sha256, problems)`` for the files of a run folder (within ``scope`` if given)."""
    root = Path(run_dir)
    scan = scan_files(root)
    found = {rel: sha256_file(root / rel) for rel in scan.files if not unsealed(rel) and in_scope(rel, scope)}
    found.update(
        {
            rel: LINK_PREFIX + text
            for rel, text in scan.links.items()
            if not unsealed(rel) and in_scope(rel, scope)
        }
    )
    return dict(sorted(found.items())), [
        f"{what}: {rel}" for rel, what in scan.problems if in_scope(rel, scope)
    ]


def unsealed(relpath: str) -> bool:
    """Whether a run-relative path is one the manifest leaves out (see :data:`UNSEALED_FILES`)."""
    return relpath in UNSEALED_FILES or ("/" not in relpath and relpath.startswith(HEARTBEAT_PREFIX))


def in_scope(relpath: str, scope: Optional[Sequence[str]]) -> bool:
    """Whether ``relpath`` is one of ``scope`` or under one of its folders (everything without one)."""
    if scope is None:
        return True
    return any(relpath == s or relpath.startswith(s.rstrip("/") + "/") for s in scope)


def manifest_findings(
    recorded: Mapping[str, str],
    current: Mapping[str, str],
    problems: Sequence[str] = (),
    scope: Optional[Sequence[str]] = None,
) -> List[str]:
    """One line per difference between the sealed and the present files (empty when they match)."""
    notes: List[str] = []
    sealed = set()
    for key in sorted(recorded):
        try:
            rel = checked_relpath(key)
        except UnsafePathError:
            notes.append(f"unsafe path in {HASHES} (never opened): {key[:120]!r}")
            continue
        sealed.add(rel)
        if not in_scope(rel, scope):
            continue
        if unsealed(rel):
            notes.append(f"{rel} cannot be sealed, yet {HASHES} lists it")
        elif rel not in current:
            notes.append(f"file missing: {rel}")
        elif current[rel] != recorded[key]:
            was, now = short(recorded[key]), short(current[rel])
            notes.append(f"file changed: {rel}: recorded {was} != current {now}")
    added = sorted(set(current) - sealed)
    notes += [f"file not in the seal (added after sealing): {rel}" for rel in added]
    return notes + list(problems)


__all__ = [
    "HEARTBEAT_PREFIX",
    "LOCK_FILE",
    "PROVENANCE",
    "UNSEALED_FILES",
    "in_scope",
    "manifest_findings",
    "scan_run",
    "unsealed",
]
