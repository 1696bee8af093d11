"""The hf backend locates a hub id's files in the local Hugging Face cache (no download) so that the
hash chain records the snapshot's commit and the hashes of its files; a local folder is itself."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

COMMIT = "0123456789abcdef0123456789abcdef01234567"
LOCATE = """
import json, sys
from verifily_adapters.hf_backend.backend import HFModelBackend
from verifily_core.domain.model_digest import hash_base_model
backend = HFModelBackend()
found = backend.locate_model(sys.argv[1])
record = hash_base_model(sys.argv[1], found)
print(json.dumps({"found": found is not None, **record.to_dict()}))
"""


def _cache_with_model(cache: Path) -> None:
    """The layout huggingface_hub writes: blobs, a snapshot of symlinks, refs/main -> the commit."""
    repo = cache / "models--org--tiny"
    (repo / "blobs").mkdir(parents=True)
    (repo / "refs").mkdir()
    (repo / "refs" / "main").write_text(COMMIT)
    snapshot = repo / "snapshots" / COMMIT
    snapshot.mkdir(parents=True)
    for name, text in (("config.json", '{"model_type": "llama"}'), ("model.safetensors", "weights")):
        (repo / "blobs" / name).write_text(text)
        (snapshot / name).symlink_to(Path("../../blobs") / name)


def _locate(reference: str, cache: Path) -> dict:
    env = {**os.environ, "HF_HUB_CACHE": str(cache), "HF_HUB_OFFLINE": "1"}
    done = subprocess.run(
        [sys.executable, "-c", LOCATE, reference], capture_output=True, text=True, env=env, timeout=120
    )
    assert done.returncode == 0, done.stderr[-2000:]
    return dict(json.loads(done.stdout.strip().splitlines()[-1]))


@pytest.mark.timeout(180)
def test_a_cached_hub_id_is_hashed_with_its_commit(tmp_path: Path) -> None:
    _cache_with_model(tmp_path / "cache")
    record = _locate("org/tiny", tmp_path / "cache")
    assert record["found"] and record["revision"] == COMMIT
    assert sorted(record["files"]) == ["config.json", "model.safetensors"]
    assert record["digest"].startswith("sha256:")
    missing = _locate("org/absent", tmp_path / "cache")
    assert not missing["found"] and missing["digest"] is None
