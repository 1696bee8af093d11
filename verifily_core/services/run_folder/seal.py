"""Seal a run folder, check a seal before anything is loaded, and re-seal after a deliberate write.

The seal is ``hashes.json``: the hash chain plus the manifest of every file of the folder
(``domain.manifest``). Three moments use it:

* ``seal_run`` — the process that wrote the files records them: when the run folder is created, when
  training has written its outputs, and once more after ``run_meta.json`` says ``completed``; with a
  signing key the sealed run is also signed (``provenance.intoto.jsonl``).
* ``check_seal`` — before a command loads anything from a run folder (weights, saved predictions,
  the frozen config), the files it will read are compared with the seal; a difference is an
  :class:`IntegrityError` naming each file, raised before the first byte is loaded.
* ``reseal`` — a command that rewrites files of a sealed run on purpose (``eval-cmd``) checks the
  seal first, writes, then replaces the manifest entries of exactly the paths it wrote; any other
  change stays detected. A signed run is signed again when the key is at hand, else its signature
  no longer matches and ``reproduce --verify-only --key`` says so until ``verifily sign`` is run.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Mapping, Optional, Sequence

from verifily_core.domain import provenance
from verifily_core.domain.hashchain import HashChain
from verifily_core.domain.manifest import PROVENANCE, in_scope, manifest_findings
from verifily_core.domain.runs import ENVIRONMENT, HASHES
from verifily_core.errors import IntegrityError
from verifily_core.ports.artifact_store import ArtifactStore

log = logging.getLogger("verifily")


def recorded_chain(store: ArtifactStore, run_id: str) -> HashChain:
    """The run's ``hashes.json``; IntegrityError when there is none (nothing proves the files)."""
    if not store.exists(run_id, HASHES):
        raise IntegrityError(
            f"Run {run_id} has no {HASHES}: nothing proves what its files are, so none is loaded.",
            hint="Only run folders written by `verifily train` can be used; a run interrupted before "
            "its folder was written has none (see status in run_meta.json).",
        )
    return HashChain.from_dict(store.read_json(run_id, HASHES))


def seal_run(
    store: ArtifactStore,
    run_id: str,
    chain: Optional[HashChain] = None,
    *,
    signing_key: Optional[Path] = None,
) -> HashChain:
    """Record every file now in the run folder in ``hashes.json`` (and sign it with ``signing_key``).

    Only the process that wrote the files calls this; a symlink or special file in the folder is
    refused rather than sealed.
    """
    chain = chain if chain is not None else recorded_chain(store, run_id)
    files, problems = store.file_digests(run_id)
    if problems:
        raise IntegrityError(f"Run {run_id} holds entries that cannot be sealed:", problems=problems)
    chain.artifacts = files
    store.write_json(run_id, HASHES, chain.to_dict())
    if signing_key is not None:
        sign_run(store, run_id, signing_key)
    return chain


def check_seal(store: ArtifactStore, run_id: str, scope: Optional[Sequence[str]] = None) -> HashChain:
    """The recorded chain, after checking that the files within ``scope`` (all without) match it."""
    chain = recorded_chain(store, run_id)
    current, problems = store.file_digests(run_id, scope)
    notes = manifest_findings(chain.artifacts, current, problems, scope)
    if notes:
        raise IntegrityError(
            f"Run {run_id} does not match its seal ({HASHES}); nothing was loaded from it:",
            problems=notes,
            hint="Restore the run folder from a copy you trust, or train it again. "
            "`verifily reproduce --verify-only --run DIR` lists every difference.",
        )
    return chain


def reseal(
    store: ArtifactStore,
    run_id: str,
    chain: HashChain,
    relpaths: Sequence[str],
    *,
    signing_key: Optional[Path] = None,
) -> None:
    """Replace the manifest entries under ``relpaths`` by the files there now.

    ``chain`` is the one :func:`check_seal` returned before the caller wrote, so the old seal was
    checked first and entries outside ``relpaths`` keep their recorded hashes.
    """
    fresh, problems = store.file_digests(run_id, relpaths)
    if problems:
        raise IntegrityError(f"Run {run_id} holds entries that cannot be sealed:", problems=problems)
    kept = {k: v for k, v in chain.artifacts.items() if not in_scope(k, relpaths)}
    chain.artifacts = dict(sorted({**kept, **fresh}.items()))
    store.write_json(run_id, HASHES, chain.to_dict())
    if signing_key is not None:
        sign_run(store, run_id, signing_key)
    elif store.exists(run_id, PROVENANCE):
        log.warning(
            "Run %s was signed; its signature no longer covers the files just re-sealed. "
            "Sign it again: verifily sign --run %s --key PRIVATE.pem",
            run_id,
            store.local_dir(run_id),
        )


def sign_run(store: ArtifactStore, run_id: str, private_key: Path) -> str:
    """Write the signed in-toto statement of the sealed run; returns the signing key's id."""
    chain = recorded_chain(store, run_id)
    hashes_bytes = store.read_text(run_id, HASHES).encode("utf-8")
    env = store.read_json(run_id, ENVIRONMENT) if store.exists(run_id, ENVIRONMENT) else {}
    environment = {str(k): str(v) for k, v in env.items()} if isinstance(env, Mapping) else {}
    envelope = provenance.sign_statement(
        provenance.statement(run_id, chain, hashes_bytes, environment), private_key
    )
    store.write_jsonl(run_id, PROVENANCE, [envelope])
    return str(envelope["signatures"][0]["keyid"])


__all__ = ["check_seal", "recorded_chain", "reseal", "seal_run", "sign_run"]
