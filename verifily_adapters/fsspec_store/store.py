"""Run folders in object storage through fsspec: ``output.dir: s3://bucket/prefix`` (``store: fsspec``).

Why a local staging folder: backends (Transformers, PEFT, sklearn) write model files and checkpoints
with their own code into a local folder. So each run has one under the store's cache folder
(``$VERIFILY_STORE_CACHE``, else ``$XDG_CACHE_HOME/verifily/stores``, else ``~/.cache/...``), and the
store uploads it: every ``write_text`` at once, the rest on ``sync`` (the train use case syncs every
few seconds while training, so checkpoints reach the bucket as they are saved, and a run resumes
from the bucket on another machine). A checkpoint folder is uploaded only once its
``trainer_state.json`` exists (the Trainer writes it last), and that file goes last.

The seal is the commit marker: writing ``hashes.json`` first uploads everything else, then the seal;
``run_meta.json`` says ``completed`` only after that. Objects are never half-written (a PUT is
atomic), so a reader sees a run's files as of some moment of its upload, never a torn file.

Reading a run this process did not write: small files are fetched directly (and, for a finished
run, cached on disk for ``VERIFILY_STORE_CACHE_TTL`` seconds, default 300, so a dashboard over
1,000 runs lists them at local speed after its first look); ``local_dir`` mirrors the run's
objects (downloading only what changed); ``file_digests`` (verification) streams every object
through SHA-256 without a local copy.

The concerns live in their own modules: ``bucket`` (keys, retries, listings), ``staging`` (the
staging folders, uploads and mirrors) and ``cache`` (the small-file cache); this module is the
``ArtifactStore`` they make together.

Credentials come from the filesystem library's own chain (for s3fs: ``AWS_*`` variables,
``~/.aws``, instance roles; ``AWS_ENDPOINT_URL`` for S3-compatible servers). The store never
reads, logs or writes them; URLs carry none.
"""

from __future__ import annotations

import hashlib
import json
import re
import threading
from pathlib import Path
from typing import Any, Dict, Iterable, Iterator, List, Optional, Sequence, Set, Tuple, Union

from verifily_adapters.atomic import atomic_write_text
from verifily_adapters.fsspec_store.bucket import CLAIM, Bucket, run_relpath
from verifily_adapters.fsspec_store.cache import SmallFiles, cache_home
from verifily_adapters.fsspec_store.staging import Staging
from verifily_core.domain.hashchain import PREFIX
from verifily_core.domain.locations import remote_url
from verifily_core.domain.manifest import in_scope, scan_run, unsealed
from verifily_core.domain.runs import HASHES, RUN_META, is_plain_run_id, run_id_candidates
from verifily_core.errors import RunNotFoundError, StoreError
from verifily_core.ports.artifact_store import ArtifactStore, RunLocation


class FsspecArtifactStore(ArtifactStore):
    """Runs under a URL (``s3://bucket/prefix``); see the module docstring.

    ``root`` is the local staging folder of this URL (what ranks of one machine share); ``url`` is
    where the runs live, and what messages name.
    """

    PLUGIN_NAME = "fsspec"

    def __init__(self, root: Union[str, Path]) -> None:
        url = remote_url(root)
        if url is None:
            raise StoreError(
                f"The fsspec store needs a URL such as s3://bucket/prefix, got {str(root)!r}.",
                hint="Set output.dir (or --runs-dir) to a bucket URL, or use store: local for a folder.",
            )
        self._bucket = Bucket(url)
        self.fs = self._bucket.fs
        self.url = url
        super().__init__(cache_home() / re.sub(r"[^A-Za-z0-9._-]+", "_", url))
        self._lock = threading.RLock()
        self._staging = Staging(self._bucket, self.root, self._lock)
        self._small = SmallFiles(self._bucket, self.root / ".listing-cache.json")
        self._listed: Set[str] = set()  # run folders seen in the last listing

    def address(self, run_id: str) -> str:
        return self._bucket.address(run_id)

    def _name(self, run_id: str, relpath: str) -> str:
        return self._bucket.name(run_id, relpath)

    # ------------------------------------------------------------------ runs

    def create_run(self, name: Optional[str] = None, *, prefix: str = "run") -> RunLocation:
        candidates = run_id_candidates(name, prefix=prefix)
        for _, run_id in zip(range(999), candidates):
            try:
                self._bucket.retry(
                    f"Cannot create run {self.address(run_id)}",
                    self.fs.pipe_file,
                    self._bucket.key(run_id, CLAIM),
                    b"",
                    mode="create",
                )
            except FileExistsError:
                continue
            except FileNotFoundError:
                raise StoreError(
                    f"Cannot create a run in {self.url}: no such bucket (or container).",
                    hint="Create the bucket first, or fix output.dir / --runs-dir.",
                ) from None
            self._staging.created(run_id)
            return RunLocation(run_id, self.root / run_id)
        raise StoreError(f"Could not find a free run id in {self.url}")

    def location(self, run_id: str) -> RunLocation:
        if not is_plain_run_id(run_id):
            raise RunNotFoundError(f"Not a run id: {run_id!r}", hint=f"Pick a run listed in {self.url}.")
        if run_id not in self._staging.local and run_id not in self._listed and run_id not in self._folders():
            raise RunNotFoundError(f"No run {run_id!r} in {self.url}")
        return RunLocation(run_id, self.root / run_id)

    def _folders(self) -> Set[str]:
        """The run folders under the URL now: one listing request (a run folder's id is checked
        against the last listing first, so opening 1,000 runs costs one request, not 1,000)."""
        found = self._bucket.run_folders()
        with self._lock:
            self._listed = found
        return found

    def list_runs(self) -> List[RunLocation]:
        ids = sorted(self._folders() | self._staging.local)
        self.prefetch(ids, [RUN_META])
        return [RunLocation(i, self.root / i) for i in ids if self.exists(i, RUN_META)]

    # ------------------------------------------------------------------ files

    def write_text(self, run_id: str, relpath: str, text: str) -> Path:
        rel = run_relpath(relpath)
        self._ensure_local(run_id)
        path = atomic_write_text(self.root / run_id / rel, text)
        if rel == HASHES:
            self.sync(run_id)  # the seal goes last: everything it covers is in the bucket first
        else:
            self._staging.upload(run_id, rel)
        return path

    def read_text(self, run_id: str, relpath: str) -> str:
        rel = run_relpath(relpath)
        if run_id in self._staging.local:
            try:
                return (self.root / run_id / rel).read_text(encoding="utf-8")
            except FileNotFoundError:
                raise StoreError(f"{self._name(run_id, rel)} not found") from None
        self.location(run_id)
        text = self._small.fetch(run_id, rel)
        if text is None:
            raise StoreError(f"{self._name(run_id, rel)} not found")
        return text

    def read_json(self, run_id: str, relpath: str) -> Any:
        text = self.read_text(run_id, relpath)
        try:
            return json.loads(text)
        except json.JSONDecodeError as exc:
            raise StoreError(
                f"{self._name(run_id, relpath)}:{exc.lineno}: not valid JSON ({exc.msg}); the object may be "
                "edited by hand"
            ) from None

    def iter_jsonl(self, run_id: str, relpath: str) -> Iterator[Any]:
        rel = run_relpath(relpath)
        if run_id in self._staging.local:
            lines: Iterable[str] = self._local_lines(run_id, rel)
        else:
            lines = self.read_text(run_id, rel).splitlines()
        for lineno, line in enumerate(lines, 1):
            if line.strip():
                try:
                    yield json.loads(line)
                except json.JSONDecodeError as exc:
                    raise StoreError(
                        f"{self._name(run_id, rel)}:{lineno}: not valid JSON ({exc.msg})"
                    ) from None

    def _local_lines(self, run_id: str, rel: str) -> Iterator[str]:
        try:
            fh = (self.root / run_id / rel).open(encoding="utf-8")
        except FileNotFoundError:
            raise StoreError(f"{self._name(run_id, rel)} not found") from None
        with fh:
            yield from fh

    def exists(self, run_id: str, relpath: str) -> bool:
        try:
            rel = run_relpath(relpath)
        except StoreError:
            return False
        if run_id in self._staging.local:
            return (self.root / run_id / rel).is_file()
        if not is_plain_run_id(run_id):
            return False
        return self._small.fetch(run_id, rel) is not None

    def size_bytes(self, run_id: str) -> int:
        if run_id in self._staging.local:
            return sum(f.stat().st_size for f in (self.root / run_id).rglob("*") if f.is_file())
        return sum(int(info.get("size") or 0) for info in self._bucket.objects(run_id).values())

    def prefetch(self, run_ids: Sequence[str], relpaths: Sequence[str]) -> None:
        """Fetch these files of these runs at once (concurrent requests), for the reads that follow."""
        self._small.prefetch([r for r in run_ids if r not in self._staging.local], relpaths)

    # ------------------------------------------------------------------ local staging and uploads

    def local_dir(self, run_id: str) -> Path:
        self.location(run_id)
        self._ensure_local(run_id)
        return self.root / run_id

    def _ensure_local(self, run_id: str) -> None:
        with self._lock:
            if run_id in self._staging.local:
                return
            self.location(run_id)
            self._staging.pull(run_id)
            self._staging.local.add(run_id)

    def sync(self, run_id: str) -> None:
        """Upload what changed in the staging folder (complete checkpoints only; the seal last) and
        remove the objects of files that are gone (checkpoints the Trainer rotated out)."""
        self._staging.sync(run_id)

    # ------------------------------------------------------------------ verification

    def file_digests(
        self, run_id: str, scope: Optional[Sequence[str]] = None
    ) -> Tuple[Dict[str, str], List[str]]:
        """A run written here: its staging folder (what was just uploaded). Any other run: every object
        in the bucket, streamed through SHA-256 (no local copy is trusted or made)."""
        if run_id in self._staging.local:
            self.sync(run_id)
            return scan_run(self.root / run_id, scope)
        found: Dict[str, str] = {}
        problems: List[str] = []
        for rel, _info in sorted(self._bucket.objects(run_id).items()):
            if unsealed(rel) or not in_scope(rel, scope):
                continue
            try:
                run_relpath(rel)
            except StoreError:
                problems.append(f"object name leaves the run folder: {rel}")
                continue
            found[rel] = self._bucket.retry(
                f"Cannot read {self._name(run_id, rel)}", self._stream_digest, run_id, rel
            )
        return found, problems

    def _stream_digest(self, run_id: str, rel: str) -> str:
        digest = hashlib.sha256()
        key = self._bucket.key(run_id, rel)
        self.fs.invalidate_cache(key)  # the object as it is now, not as last listed
        with self.fs.open(key, "rb", block_size=4 << 20) as fh:
            for chunk in iter(lambda: fh.read(1 << 20), b""):
                digest.update(chunk)
        return PREFIX + digest.hexdigest()
