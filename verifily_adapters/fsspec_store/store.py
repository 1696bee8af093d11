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

Credentials come from the filesystem library's own chain (for s3fs: ``AWS_*`` variables,
``~/.aws``, instance roles; ``AWS_ENDPOINT_URL`` for S3-compatible servers). The store never
reads, logs or writes them; URLs carry none.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import re
import threading
import time
from pathlib import Path, PurePosixPath
from typing import (
    Any,
    Callable,
    Dict,
    Iterable,
    Iterator,
    List,
    Optional,
    Sequence,
    Set,
    Tuple,
    TypeVar,
    Union,
)

from verifily_adapters.atomic import atomic_write_bytes, atomic_write_text
from verifily_core.domain.hashchain import PREFIX
from verifily_core.domain.locations import remote_url
from verifily_core.domain.manifest import HEARTBEAT_PREFIX, LOCK_FILE, in_scope, scan_run, unsealed
from verifily_core.domain.runs import HASHES, RUN_META, is_plain_run_id, run_id_candidates
from verifily_core.errors import RunNotFoundError, StoreError
from verifily_core.ports.artifact_store import ArtifactStore, RunLocation

T = TypeVar("T")
CACHE_ENV = "VERIFILY_STORE_CACHE"
CACHE_TTL_ENV = "VERIFILY_STORE_CACHE_TTL"
CLAIM = ".created"  # the object that claims a run id (an exclusive PUT); not a file of the run
TRAINER_STATE = "trainer_state.json"
ATTEMPTS = 4
FINISHED = ("completed", "failed", "interrupted", "dry_run")
_CHECKPOINT = re.compile(r"^(checkpoints/[^/]+)/")


def cache_home() -> Path:
    """Where staging folders and cached listings live."""
    explicit = os.environ.get(CACHE_ENV)
    if explicit:
        return Path(explicit).expanduser()
    xdg = os.environ.get("XDG_CACHE_HOME")
    return (Path(xdg) if xdg else Path.home() / ".cache") / "verifily" / "stores"


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
        import fsspec

        try:
            self.fs, base = fsspec.core.url_to_fs(url)
        except (ImportError, ValueError) as exc:
            scheme = url.split(":", 1)[0]
            extra = {"s3": "s3", "s3a": "s3", "gs": "gcs", "gcs": "gcs"}.get(scheme, "azure")
            raise StoreError(
                f"Cannot open {url}: {exc}",
                hint=f"Install the filesystem for {scheme}://: pip install 'verifily-train[{extra}]'.",
            ) from None
        self.url = url
        self._base = str(base).rstrip("/")
        super().__init__(cache_home() / re.sub(r"[^A-Za-z0-9._-]+", "_", url))
        self._lock = threading.RLock()
        self._local: Set[str] = set()  # runs whose staging folder is complete: created here or mirrored
        self._sent: Dict[
            str, Dict[str, Tuple[int, int]]
        ] = {}  # run -> relpath -> (size, mtime_ns) in the bucket
        self._small: Dict[str, Tuple[float, Optional[str]]] = {}  # key -> (fetched at, text or None)
        self._small_loaded = False
        self._listed: Set[str] = set()  # run folders seen in the last listing
        self.ttl_s = float(os.environ.get(CACHE_TTL_ENV, "300"))

    # ------------------------------------------------------------------ names

    def _key(self, run_id: str, relpath: str = "") -> str:
        return f"{self._base}/{run_id}" + (f"/{relpath}" if relpath else "")

    def _name(self, run_id: str, relpath: str) -> str:
        return f"{self.url}/{run_id}/{relpath}"

    def address(self, run_id: str) -> str:
        return f"{self.url}/{run_id}"

    @staticmethod
    def _rel(relpath: str) -> str:
        rel = PurePosixPath(relpath)
        if rel.is_absolute() or ".." in rel.parts or not rel.parts or "\\" in relpath:
            raise StoreError(f"Run file paths are relative to the run folder, got {relpath!r}")
        return rel.as_posix()

    def _retry(self, what: str, call: Callable[..., T], *args: Any, **kwargs: Any) -> T:
        """``call(*args, **kwargs)`` with retries and backoff on transient errors; then a StoreError
        naming ``what`` (never the credentials: the library's error text names the object only)."""
        for attempt in range(1, ATTEMPTS + 1):
            try:
                return call(*args, **kwargs)
            except (FileNotFoundError, FileExistsError, PermissionError):
                raise
            except (OSError, TimeoutError, ConnectionError) as exc:
                if attempt == ATTEMPTS:
                    raise StoreError(
                        f"{what}: {type(exc).__name__}: {str(exc)[:300]} (after {ATTEMPTS} attempts)",
                        hint="Check the network and the store's credentials (the library's usual settings).",
                    ) from None
                time.sleep(0.5 * 2 ** (attempt - 1))
        raise AssertionError("unreachable")

    # ------------------------------------------------------------------ runs

    def create_run(self, name: Optional[str] = None, *, prefix: str = "run") -> RunLocation:
        candidates = run_id_candidates(name, prefix=prefix)
        for _, run_id in zip(range(999), candidates):
            try:
                self._retry(
                    f"Cannot create run {self.address(run_id)}",
                    self.fs.pipe_file,
                    self._key(run_id, CLAIM),
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
            with self._lock:
                self._local.add(run_id)
                self._sent[run_id] = {}
            (self.root / run_id).mkdir(parents=True, exist_ok=True)
            return RunLocation(run_id, self.root / run_id)
        raise StoreError(f"Could not find a free run id in {self.url}")

    def location(self, run_id: str) -> RunLocation:
        if not is_plain_run_id(run_id):
            raise RunNotFoundError(f"Not a run id: {run_id!r}", hint=f"Pick a run listed in {self.url}.")
        if run_id not in self._local and run_id not in self._listed and run_id not in self._folders():
            raise RunNotFoundError(f"No run {run_id!r} in {self.url}")
        return RunLocation(run_id, self.root / run_id)

    def _folders(self) -> Set[str]:
        """The run folders under the URL now: one listing request (a run folder's id is checked
        against the last listing first, so opening 1,000 runs costs one request, not 1,000)."""
        try:
            entries = self._retry(
                f"Cannot list {self.url}", self.fs.ls, self._base, detail=False, refresh=True
            )
        except FileNotFoundError:
            entries = []
        found = {str(e).rstrip("/").rsplit("/", 1)[-1] for e in entries}
        with self._lock:
            self._listed = {i for i in found if is_plain_run_id(i)}
        return self._listed

    def list_runs(self) -> List[RunLocation]:
        ids = sorted(self._folders() | self._local)
        self.prefetch(ids, [RUN_META])
        return [RunLocation(i, self.root / i) for i in ids if self.exists(i, RUN_META)]

    # ------------------------------------------------------------------ files

    def write_text(self, run_id: str, relpath: str, text: str) -> Path:
        rel = self._rel(relpath)
        self._ensure_local(run_id)
        path = atomic_write_text(self.root / run_id / rel, text)
        if rel == HASHES:
            self.sync(run_id)  # the seal goes last: everything it covers is in the bucket first
        else:
            self._upload(run_id, rel)
        return path

    def read_text(self, run_id: str, relpath: str) -> str:
        rel = self._rel(relpath)
        if run_id in self._local:
            try:
                return (self.root / run_id / rel).read_text(encoding="utf-8")
            except FileNotFoundError:
                raise StoreError(f"{self._name(run_id, rel)} not found") from None
        self.location(run_id)
        text = self._fetch_small(run_id, rel)
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
        rel = self._rel(relpath)
        if run_id in self._local:
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
            rel = self._rel(relpath)
        except StoreError:
            return False
        if run_id in self._local:
            return (self.root / run_id / rel).is_file()
        if not is_plain_run_id(run_id):
            return False
        return self._fetch_small(run_id, rel) is not None

    def size_bytes(self, run_id: str) -> int:
        if run_id in self._local:
            return sum(f.stat().st_size for f in (self.root / run_id).rglob("*") if f.is_file())
        return sum(int(info.get("size") or 0) for info in self._objects(run_id).values())

    # ------------------------------------------------------------------ small-file cache

    def prefetch(self, run_ids: Sequence[str], relpaths: Sequence[str]) -> None:
        """Fetch these files of these runs at once (concurrent requests), for the reads that follow."""
        now = time.time()
        self._load_small()
        wanted = [
            self._key(r, rel)
            for r in run_ids
            if r not in self._local
            for rel in relpaths
            if not self._fresh(self._key(r, rel), now)
        ]
        if not wanted:
            return
        got = self._retry(f"Cannot read {self.url}", self.fs.cat, wanted, on_error="return")
        with self._lock:
            for key in wanted:
                data = got.get(key)
                text = data.decode("utf-8", "replace") if isinstance(data, bytes) else None
                self._small[key] = (now, text)
        self._save_small()

    def _fresh(self, key: str, now: float) -> bool:
        """Whether the cached copy of ``key`` may be used: fetched just now, or a finished run's file
        fetched less than ``ttl_s`` ago (a running run's files change, a finished run's rarely do)."""
        entry = self._small.get(key)
        if entry is None:
            return False
        age = now - entry[0]
        if age < 2.0:
            return True
        run_id = key[len(self._base) + 1 :].split("/", 1)[0]
        meta = self._small.get(self._key(run_id, RUN_META))
        finished = meta is not None and meta[1] is not None and _status(meta[1]) in FINISHED
        return finished and age < self.ttl_s

    def _fetch_small(self, run_id: str, rel: str) -> Optional[str]:
        key = self._key(run_id, rel)
        self._load_small()
        if self._fresh(key, time.time()):
            return self._small[key][1]
        try:
            data = self._retry(f"Cannot read {self._name(run_id, rel)}", self.fs.cat_file, key)
            text: Optional[str] = bytes(data).decode("utf-8")
        except FileNotFoundError:
            text = None
        except UnicodeDecodeError as exc:
            raise StoreError(f"Cannot read {self._name(run_id, rel)}: {exc}") from None
        with self._lock:
            self._small[key] = (time.time(), text)
        return text

    def _small_file(self) -> Path:
        return self.root / ".listing-cache.json"

    def _load_small(self) -> None:
        with self._lock:
            if self._small_loaded:
                return
            self._small_loaded = True
            try:
                saved = json.loads(self._small_file().read_text(encoding="utf-8"))
                self._small.update({k: (float(v[0]), v[1]) for k, v in saved.items()})
            except (OSError, ValueError, TypeError, IndexError, AttributeError):
                pass  # no cache yet, or an unreadable one: it is only a cache

    def _save_small(self) -> None:
        with self._lock:
            data = json.dumps({k: list(v) for k, v in self._small.items()})
        with contextlib.suppress(OSError):  # a read-only cache folder only costs speed
            atomic_write_text(self._small_file(), data)

    # ------------------------------------------------------------------ local staging and uploads

    def local_dir(self, run_id: str) -> Path:
        self.location(run_id)
        self._ensure_local(run_id)
        return self.root / run_id

    def _ensure_local(self, run_id: str) -> None:
        with self._lock:
            if run_id in self._local:
                return
            self.location(run_id)
            self._pull(run_id)
            self._local.add(run_id)

    def _objects(self, run_id: str) -> Dict[str, Dict[str, Any]]:
        """relpath -> object info of every object of the run (the claim marker excluded)."""
        prefix = self._key(run_id) + "/"
        try:
            found = self._retry(
                f"Cannot list {self.address(run_id)}", self.fs.find, prefix, detail=True, refresh=True
            )
        except FileNotFoundError:
            return {}
        objects = {}
        for key, info in dict(found).items():
            rel = str(key)[len(prefix) :]
            if rel and rel != CLAIM and info.get("type", "file") == "file":
                objects[rel] = info
        return objects

    def _pull(self, run_id: str) -> None:
        """Mirror the run's objects into its staging folder, downloading only what changed."""
        folder = self.root / run_id
        versions_file = self.root / ".versions" / f"{run_id}.json"
        try:
            versions: Dict[str, str] = json.loads(versions_file.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            versions = {}
        sent: Dict[str, Tuple[int, int]] = {}
        fresh: Dict[str, str] = {}
        for rel, info in sorted(self._objects(run_id).items()):
            path = folder / self._rel(rel)
            version = _version(info)
            same = path.is_file() and path.stat().st_size == info.get("size") and versions.get(rel) == version
            if not same:
                data = self._retry(
                    f"Cannot download {self._name(run_id, rel)}",
                    self.fs.cat_file,
                    self._key(run_id, rel),
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
        with self._lock:
            if run_id not in self._local:
                return
            folder = self.root / run_id
            files = _staged_files(folder)
            for rel in _upload_order(files):
                self._upload(run_id, rel)
            sent = self._sent.setdefault(run_id, {})
            for rel in sorted(set(sent) - set(files)):
                with contextlib.suppress(FileNotFoundError):
                    self._retry(
                        f"Cannot delete {self._name(run_id, rel)}",
                        self.fs.rm_file,
                        self._key(run_id, rel),
                    )
                sent.pop(rel, None)

    def _upload(self, run_id: str, rel: str) -> None:
        path = self.root / run_id / rel
        with self._lock:
            try:
                st = path.stat()
            except FileNotFoundError:
                return
            sent = self._sent.setdefault(run_id, {})
            if sent.get(rel) == (st.st_size, st.st_mtime_ns):
                return
            self._retry(
                f"Cannot upload {self._name(run_id, rel)}",
                self.fs.put_file,
                str(path),
                self._key(run_id, rel),
            )
            sent[rel] = (st.st_size, st.st_mtime_ns)

    # ------------------------------------------------------------------ verification

    def file_digests(
        self, run_id: str, scope: Optional[Sequence[str]] = None
    ) -> Tuple[Dict[str, str], List[str]]:
        """A run written here: its staging folder (what was just uploaded). Any other run: every object
        in the bucket, streamed through SHA-256 (no local copy is trusted or made)."""
        if run_id in self._local:
            self.sync(run_id)
            return scan_run(self.root / run_id, scope)
        found: Dict[str, str] = {}
        problems: List[str] = []
        for rel, _info in sorted(self._objects(run_id).items()):
            if unsealed(rel) or not in_scope(rel, scope):
                continue
            try:
                self._rel(rel)
            except StoreError:
                problems.append(f"object name leaves the run folder: {rel}")
                continue
            found[rel] = self._retry(
                f"Cannot read {self._name(run_id, rel)}", self._stream_digest, run_id, rel
            )
        return found, problems

    def _stream_digest(self, run_id: str, rel: str) -> str:
        digest = hashlib.sha256()
        self.fs.invalidate_cache(self._key(run_id, rel))  # the object as it is now, not as last listed
        with self.fs.open(self._key(run_id, rel), "rb", block_size=4 << 20) as fh:
            for chunk in iter(lambda: fh.read(1 << 20), b""):
                digest.update(chunk)
        return PREFIX + digest.hexdigest()


def _status(run_meta_text: str) -> Optional[str]:
    try:
        data = json.loads(run_meta_text)
    except ValueError:
        return None
    return data.get("status") if isinstance(data, dict) else None


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
