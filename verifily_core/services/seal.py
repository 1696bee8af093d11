"""Keep the output side of the hash chain current.

``hashes.json`` records the SHA-256 of a run's outputs so that tampering with them is detected. An
output that we rewrite on purpose (``eval-cmd`` re-evaluating a run) must be re-sealed at the same
moment, or ``reproduce --verify-only`` would report our own write as tampering.
"""

from __future__ import annotations

from typing import Sequence

from verifily_core.domain import hashchain
from verifily_core.domain.runs import HASHES
from verifily_core.ports.artifact_store import ArtifactStore


def seal_artifacts(
    store: ArtifactStore, run_id: str, relpaths: Sequence[str], *, only_if_sealed: bool = False
) -> None:
    """Record the current hashes of ``relpaths`` (files or folders) in the run's ``hashes.json``.

    With ``only_if_sealed`` nothing happens for a run whose chain has no outputs yet (a run still
    training, or a dry run): its outputs are sealed when training completes.
    """
    if not store.exists(run_id, HASHES):
        return
    chain = hashchain.HashChain.from_dict(store.read_json(run_id, HASHES))
    if only_if_sealed and not chain.artifacts:
        return
    fresh = hashchain.hash_artifacts(store.local_dir(run_id), relpaths)
    stale = [k for k in chain.artifacts if any(k == p or k.startswith(p.rstrip("/") + "/") for p in relpaths)]
    for key in stale:
        chain.artifacts.pop(key)
    chain.artifacts = dict(sorted({**chain.artifacts, **fresh}.items()))
    store.write_json(run_id, HASHES, chain.to_dict())
