"""The local staging folder of each run, and keeping the bucket in step with it.

Why staging: backends write model files and checkpoints with their own code into a local folder, so
the store uploads what they wrote. ``sync`` uploads what changed (a checkpoint only once its
``trainer_state.json`` exists, which the Trainer writes last, and that file last in it; the seal
``hashes.json`` last of all) and removes the objects of files that are gone. ``pull`` mirrors a run
written elsewhere, downloading only the objects whose version changed.
"""

from __future__ import annotations

import contextlib
import json
import re
import threading
from pathlib import Path
from typing import Any, Dict, List, Sequence, Set, Tuple

from verifily_adapters.atomic import atomic_write_bytes, atomic_write_text
from verifily_adapters.fsspec_store.bucket import Bucket, run_relpath
from verifily_core.domain.manifest import HEARTBEAT_PREFIX, LOCK_FILE
from verifily_core.domain.runs import HASHES

TRAINER_STATE = "trainer_state.json"
_CHECKPOINT = re.compile(r"^(checkpoints/[^/]+)/")
Sent = Dict[str, Tuple[int, int]]  # relpath -> (size, mtime_ns) of the file when it was uploaded


class Staging:
    """Staging folders under ``root`` (``root/<run id>``) of the runs in ``bucket``.

    ``local`` holds the runs whose staging folder is complete (created here or mirrored); ``lock``
    is shared with the store so that a run is mirrored once even when threads race for it.
    """

    def __init__(self, bucket: Bucket, root: Path, lock: threading.RLock) -> None:
        self.bucket = bucket
        self.root = root
        self.lock = lock
        self.local: Set[str] = set()
        self._sent: Dict[str, Sent] = {}  # run -> what of its folder the bucket holds

    def created(self, run_id: str) -> None:
        """A run claimed here: its staging folder is the whole run."""
        with self.lock:
            self.local.add(run_id)
            self._sent[run_id] = {}
        (self.root / run_id).mkdir(parents=True, exist_ok=True)

    def pull(self, run_id: str) -> None:
        """Mirror the run's objects into its staging folder, downloading only what changed."""
        folder = self.root / run_id
        versions_file = self.root / ".versions" / f"{run_id}.json"
        try:
            versions: Dict[str, str] = json.loads(versions_file.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            versions = {}
        sent: Sent = {}
        fresh: Dict[str, str] = {}
        for rel, info in sorted(self.bucket.objects(run_id).items()):
            path = folder / run_relpath(rel)
            version = _version(info)
            same = path.is_file() and path.stat().st_size == info.get("size") and versions.get(rel) == version
            if not same:
                data = self.bucket.retry(
                    f"Cannot download {self.bucket.name(run_id, rel)}",
                    self.bucket.fs.cat_file,
                    self.bucket.key(run_id, rel),
                )
                atomic_write_bytes(path, bytes(data))
            st = path.stat()
            sent[rel] = (st.st_size, st.st_mtime_ns)
            fresh[rel] = version
        self._sent[run_id] = sent
        with contextlib.suppress(OSError):
            atomic_write_text(versions_file, json.dumps(fresh))

    def sync(self, run_id: str) -> None:
        """Upload what changed in the staging folder (complete checkpoints only; the seal last) and
        remove the objects of files that are gone (checkpoints the Trainer rotated out)."""
        with self.lock:
            if run_id not in self.local:
                return
            files = _staged_files(self.root / run_id)
            for rel in _upload_order(files):
                self.upload(run_id, rel)
            sent = self._sent.setdefault(run_id, {})
            for rel in sorted(set(sent) - set(files)):
                with contextlib.suppress(FileNotFoundError):
                    self.bucket.retry(
                        f"Cannot delete {self.bucket.name(run_id, rel)}",
                        self.bucket.fs.rm_file,
                        self.bucket.key(run_id, rel),
                    )
                sent.pop(rel, None)

    def upload(self, run_id: str, rel: str) -> None:
        """Upload one staged file unless the bucket already holds it as it is now."""
        path = self.root / run_id / rel
        with self.lock:
            try:
                st = path.stat()
            except FileNotFoundError:
                return
            sent = self._sent.setdefault(run_id, {})
            if sent.get(rel) == (st.st_size, st.st_mtime_ns):
                return
            self.bucket.retry(
                f"Cannot upload {self.bucket.name(run_id, rel)}",
                self.bucket.fs.put_file,
                str(path),
                self.bucket.key(run_id, rel),
            )
            sent[rel] = (st.st_size, st.st_mtime_ns)


def _version(info: Dict[str, Any]) -> str:
    """What identifies an object's content in a listing: its ETag (S3, Azure), md5 (GCS), else size+time."""
    for key in ("ETag", "etag", "md5Hash", "content_settings"):
        if info.get(key):
            return str(info[key])
    return f"{info.get('size')}:{info.get('LastModified') or info.get('mtime') or info.get('last_modified')}"


def _staged_files(folder: Path) -> List[str]:
    """Run-relative paths of the staging folder's files that belong in the bucket."""
    found = []
    for path in folder.rglob("*"):
        name = path.name
        if not path.is_file() or path.is_symlink():
            continue
        if (
            name == LOCK_FILE
            or name.startswith(HEARTBEAT_PREFIX)
            or (name.startswith(".") and name.endswith(".tmp"))
        ):
            continue
        found.append(path.relative_to(folder).as_posix())
    return found


def _upload_order(files: Sequence[str]) -> List[str]:
    """Checkpoints only once complete (their ``trainer_state.json`` exists), that file last in each;
    the seal last of all."""
    present = set(files)

    def complete(rel: str) -> bool:
        match = _CHECKPOINT.match(rel)
        return match is None or f"{match.group(1)}/{TRAINER_STATE}" in present

    def rank(rel: str) -> Tuple[int, str]:
        return (2 if rel == HASHES else 1 if rel.endswith("/" + TRAINER_STATE) else 0, rel)

    return sorted((f for f in files if complete(f)), key=rank)
