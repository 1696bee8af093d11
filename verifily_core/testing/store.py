"""The in-memory artifact store: run files in a dict, behaving like a remote store.

Why a temp ``local_dir`` that reaches the store only on ``sync``: that is how remote stores work,
so tests with this store catch a use case that forgets to sync what a backend wrote.
"""

from __future__ import annotations

import hashlib
import json
import tempfile
import threading
from pathlib import Path, PurePosixPath
from typing import Any, Dict, Iterator, List, Optional, Sequence, Tuple, Union

from verifily_core.domain.hashchain import PREFIX
from verifily_core.domain.manifest import in_scope, scan_run, unsealed
from verifily_core.domain.runs import RUN_META, is_plain_run_id, run_id_candidates
from verifily_core.errors import RunNotFoundError, StoreError
from verifily_core.ports import ArtifactStore, RunLocation


class InMemoryArtifactStore(ArtifactStore):
    """Run files in memory; see the package docstring.

    ``root`` only names the store in messages; ``local_root`` holds the per-run local folders
    (default: a temp folder made on first use; pass pytest's ``tmp_path`` to have it cleaned up).
    """

    PLUGIN_NAME = "memory"

    def __init__(self, root: Union[str, Path] = "memory-runs", *, local_root: Optional[Path] = None) -> None:
        super().__init__(Path(root))
        self.files: Dict[str, Dict[str, bytes]] = {}
        self._local_root = local_root
        self._lock = threading.Lock()

    def create_run(self, name: Optional[str] = None, *, prefix: str = "run") -> RunLocation:
        with self._lock:
            run_id = next(i for i in run_id_candidates(name, prefix=prefix) if i not in self.files)
            self.files[run_id] = {}
        return RunLocation(run_id, self.local_dir(run_id))

    def location(self, run_id: str) -> RunLocation:
        if not is_plain_run_id(run_id) or run_id not in self.files:
            raise RunNotFoundError(f"No run {run_id!r} in {self.root}")
        return RunLocation(run_id, self.local_dir(run_id))

    def list_runs(self) -> List[RunLocation]:
        return [self.location(r) for r in sorted(self.files) if RUN_META in self.files[r]]

    def _run_files(self, run_id: str, relpath: str) -> Dict[str, bytes]:
        rel = PurePosixPath(relpath)
        if rel.is_absolute() or ".." in rel.parts or not rel.parts:
            raise StoreError(f"Run file paths are relative to the run folder, got {relpath!r}")
        self.location(run_id)
        return self.files[run_id]

    def _key(self, relpath: str) -> str:
        return PurePosixPath(relpath).as_posix()

    def _name(self, run_id: str, relpath: str) -> str:
        return f"{self.root}/{run_id}/{self._key(relpath)}"

    def _invalid(self, run_id: str, relpath: str, lineno: int, exc: json.JSONDecodeError) -> StoreError:
        return StoreError(f"{self._name(run_id, relpath)}:{lineno}: not valid JSON ({exc.msg})")

    def write_text(self, run_id: str, relpath: str, text: str) -> Path:
        self._run_files(run_id, relpath)[self._key(relpath)] = text.encode("utf-8")
        return Path(self._name(run_id, relpath))

    def read_text(self, run_id: str, relpath: str) -> str:
        data = self._run_files(run_id, relpath).get(self._key(relpath))
        if data is None:
            raise StoreError(f"{self._name(run_id, relpath)} not found")
        try:
            return data.decode("utf-8")
        except UnicodeDecodeError as exc:
            raise StoreError(f"Cannot read {self._name(run_id, relpath)}: {exc}") from exc

    def read_json(self, run_id: str, relpath: str) -> Any:
        try:
            return json.loads(self.read_text(run_id, relpath))
        except json.JSONDecodeError as exc:
            raise self._invalid(run_id, relpath, exc.lineno, exc) from None

    def iter_jsonl(self, run_id: str, relpath: str) -> Iterator[Any]:
        for lineno, line in enumerate(self.read_text(run_id, relpath).splitlines(), 1):
            if line.strip():
                try:
                    yield json.loads(line)
                except json.JSONDecodeError as exc:
                    raise self._invalid(run_id, relpath, lineno, exc) from None

    def exists(self, run_id: str, relpath: str) -> bool:
        try:
            return self._key(relpath) in self._run_files(run_id, relpath)
        except StoreError:
            return False

    def local_dir(self, run_id: str) -> Path:
        if run_id not in self.files:
            raise RunNotFoundError(f"No run {run_id!r} in {self.root}")
        folder = self.work_dir() / run_id
        folder.mkdir(parents=True, exist_ok=True)
        return folder

    def work_dir(self) -> Path:
        """The local folder of the per-run folders (``root`` only names this store)."""
        with self._lock:
            if self._local_root is None:
                self._local_root = Path(tempfile.mkdtemp(prefix="verifily-memory-store-"))
            return self._local_root

    def sync(self, run_id: str) -> None:
        """ "Upload" every file a backend wrote under ``local_dir`` into the store."""
        local = self.local_dir(run_id)
        for path in sorted(p for p in local.rglob("*") if p.is_file()):
            self.files[run_id][path.relative_to(local).as_posix()] = path.read_bytes()

    def file_digests(
        self, run_id: str, scope: Optional[Sequence[str]] = None
    ) -> Tuple[Dict[str, str], List[str]]:
        """The stored files, and what a backend wrote under ``local_dir`` (what a load would read)."""
        local, problems = scan_run(self.local_dir(run_id), scope)
        stored = {
            key: PREFIX + hashlib.sha256(data).hexdigest()
            for key, data in self.files[run_id].items()
            if not unsealed(key) and in_scope(key, scope)
        }
        return dict(sorted({**stored, **local}.items())), problems

    def size_bytes(self, run_id: str) -> int:
        self.location(run_id)
        return sum(len(b) for b in self.files[run_id].values())
