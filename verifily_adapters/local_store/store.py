"""Run folders on the local filesystem (the default ``store: local``)."""

from __future__ import annotations

import io
import itertools
import json
import os
from pathlib import Path
from typing import Any, Iterator, List, Optional

from verifily_adapters.atomic import atomic_write_text
from verifily_core.domain.run_files import confined, open_regular
from verifily_core.domain.runs import RUN_META, is_plain_run_id, run_id_candidates
from verifily_core.errors import RunNotFoundError, StoreError
from verifily_core.ports.artifact_store import ArtifactStore, RunLocation


class LocalArtifactStore(ArtifactStore):
    """Each run is a folder ``<root>/<run_id>``; every file write is atomic."""

    PLUGIN_NAME = "local"

    def create_run(self, name: Optional[str] = None, *, prefix: str = "run") -> RunLocation:
        try:
            self.root.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise StoreError(f"Cannot create the runs folder {self.root}: {exc.strerror}") from exc
        candidates = run_id_candidates(name, prefix=prefix)
        base = next(candidates)
        for run_id in itertools.chain([base], itertools.islice(candidates, 998)):
            path = self.root / run_id
            try:
                path.mkdir()  # fails if it exists: the atomic claim on the id
            except FileExistsError:
                continue
            except OSError as exc:
                raise StoreError(f"Cannot create run folder {path}: {exc.strerror}") from exc
            return RunLocation(run_id, path)
        raise StoreError(f"Could not find a free run id for {base!r} in {self.root}")

    def location(self, run_id: str) -> RunLocation:
        if not is_plain_run_id(run_id):
            raise RunNotFoundError(f"Not a run id: {run_id!r}", hint=f"Pick a run listed in {self.root}.")
        path = self.root / run_id
        try:
            resolved = path.resolve(strict=True)
        except (OSError, RuntimeError):
            raise RunNotFoundError(f"No run {run_id!r} in {self.root}") from None
        if resolved.parent != self.root.resolve() or not resolved.is_dir():
            raise RunNotFoundError(f"No run {run_id!r} in {self.root}")
        return RunLocation(run_id, path)

    def list_runs(self) -> List[RunLocation]:
        if not self.root.is_dir():
            return []
        root = self.root.resolve()
        runs = []
        for entry in os.scandir(self.root):
            path = Path(entry.path)
            is_run = entry.is_dir(follow_symlinks=False) and (path / RUN_META).is_file()
            if is_run and path.resolve().parent == root:
                runs.append(RunLocation(entry.name, path))
        return sorted(runs, key=lambda r: r.run_id)

    def _file(self, run_id: str, relpath: str) -> Path:
        """The file's path, confined to the run folder (UnsafePathError for ``..``, absolute paths
        and symlinks leading out: ``domain.run_files`` is the one helper for this)."""
        return confined(self.location(run_id).path, relpath)

    def write_text(self, run_id: str, relpath: str, text: str) -> Path:
        path = self._file(run_id, relpath)
        try:
            return atomic_write_text(path, text)
        except OSError as exc:
            raise StoreError(f"Cannot write {path}: {exc.strerror or exc}") from exc

    def read_text(self, run_id: str, relpath: str) -> str:
        path = self._file(run_id, relpath)
        try:
            with open_regular(path) as fh:  # a FIFO or device is refused, never waited on
                return io.TextIOWrapper(fh, encoding="utf-8").read()
        except FileNotFoundError:
            raise StoreError(f"{path} not found") from None
        except (OSError, UnicodeDecodeError) as exc:
            raise StoreError(f"Cannot read {path}: {exc}") from exc

    def read_json(self, run_id: str, relpath: str) -> Any:
        text = self.read_text(run_id, relpath)
        try:
            return json.loads(text)
        except json.JSONDecodeError as exc:
            path = self._file(run_id, relpath)
            raise StoreError(
                f"{path}:{exc.lineno}: not valid JSON ({exc.msg}); the file may be half-written "
                "or edited by hand"
            ) from None

    def iter_jsonl(self, run_id: str, relpath: str) -> Iterator[Any]:
        path = self._file(run_id, relpath)
        try:
            fh = io.TextIOWrapper(open_regular(path), encoding="utf-8")
        except FileNotFoundError:
            raise StoreError(f"{path} not found") from None
        except OSError as exc:
            raise StoreError(f"Cannot read {path}: {exc}") from exc
        with fh:
            for lineno, line in enumerate(fh, 1):
                if line.strip():
                    try:
                        yield json.loads(line)
                    except json.JSONDecodeError as exc:
                        raise StoreError(f"{path}:{lineno}: not valid JSON ({exc.msg})") from None

    def exists(self, run_id: str, relpath: str) -> bool:
        try:
            return self._file(run_id, relpath).exists()
        except StoreError:
            return False

    def local_dir(self, run_id: str) -> Path:
        return self.location(run_id).path

    def size_bytes(self, run_id: str) -> int:
        total = 0
        for dirpath, _dirs, files in os.walk(self.location(run_id).path):
            for f in files:
                try:
                    total += os.lstat(os.path.join(dirpath, f)).st_size
                except OSError:
                    continue
        return total
