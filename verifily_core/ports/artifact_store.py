"""The ArtifactStore port: where run folders live and how their files are written and read.

Contract for implementers
-------------------------
* Built with the runs root (``output.dir`` of a config, or ``--runs-dir``): ``Store(root)``.
  ``PLUGIN_NAME`` is the value of the config key ``store``.
* ``create_run(name)`` creates a new, empty run folder and returns its location. Ids are
  ``run_YYYYMMDD_HHMMSS_<6 hex>`` without a name and ``run_YYYYMMDD_<name>`` with one, with ``_2``,
  ``_3``... on a collision; two runs created in the same second never share a folder.
* Every write is atomic: a reader sees the old file or the whole new one, never half a file
  (temp file in the same folder, fsync, rename). ``write_json``/``write_jsonl`` go through
  ``write_text`` (UTF-8, indent 2, keys in insertion order); a store overrides them only to do better.
* ``read_json`` raises ``StoreError`` naming the file when it is missing or not valid JSON.
* Every ``relpath`` (also ones read from a run folder's own JSON) is confined to the run folder
  with ``verifily_core.domain.run_files``: no ``..``, no absolute path, no symlink leading out, and
  reads open regular files only, without blocking (``UnsafePathError`` otherwise; ``exists`` is then
  False).
* ``list_runs()`` returns every folder under the root that holds ``run_meta.json`` (including
  half-written or corrupt ones, which readers must tolerate), sorted by id.
* ``local_dir(run_id)`` is a local folder where a backend may write model files; a remote store
  uploads it on ``sync(run_id)`` (called while training, every few seconds, and at the end) and
  fills it from the store first for a run it did not write (a resume, a model to load).
* ``work_dir()`` is a local folder for working files that belong to no run and are never
  uploaded: what the processes of one distributed launch on a machine share (the rendezvous file
  naming their run, the folders of ranks on other machines) and a dry run's scratch output. It is
  the runs folder itself for a local store, the local staging folder for a remote one; ``root`` is
  never assumed to be a local folder by the core.
* A remote store uploads ``hashes.json`` (the seal) after every other file: it is the commit marker.
* Run ids from users are validated against the runs really present: ``location(run_id)`` raises
  ``RunNotFoundError`` for anything that is not a direct child of the root (no ``..``, no absolute
  paths, no symlinks leading outside).
"""

from __future__ import annotations

import json
from abc import ABC, abstractmethod
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, ClassVar, Dict, Iterable, Iterator, List, Mapping, Optional, Sequence, Tuple

from verifily_core.domain.manifest import scan_run


@dataclass(frozen=True)
class RunLocation:
    """A run's id and the local folder that holds (or mirrors) its files."""

    run_id: str
    path: Path


class ArtifactStore(ABC):
    """Creates run folders and reads/writes their files atomically; see the module contract."""

    PLUGIN_NAME: ClassVar[str]

    def __init__(self, root: Path) -> None:
        self.root = Path(root)

    @abstractmethod
    def create_run(self, name: Optional[str] = None, *, prefix: str = "run") -> RunLocation:
        """Create a new empty run folder with a fresh unique id."""

    @abstractmethod
    def location(self, run_id: str) -> RunLocation:
        """The location of an existing run; ``RunNotFoundError`` if it is not under the root."""

    @abstractmethod
    def list_runs(self) -> List[RunLocation]:
        """Every run folder under the root, sorted by id."""

    @abstractmethod
    def write_text(self, run_id: str, relpath: str, text: str) -> Path:
        """Write text atomically; returns the file's path."""

    def write_json(self, run_id: str, relpath: str, data: Any) -> Path:
        """Write JSON (UTF-8, indent 2) atomically through :meth:`write_text`; returns the file's path."""
        return self.write_text(run_id, relpath, json.dumps(data, indent=2, ensure_ascii=False) + "\n")

    def write_jsonl(self, run_id: str, relpath: str, rows: Iterable[Mapping[str, Any]]) -> Path:
        """Write one JSON object per line atomically through :meth:`write_text`; returns the path."""
        return self.write_text(
            run_id, relpath, "".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows)
        )

    @abstractmethod
    def read_json(self, run_id: str, relpath: str) -> Any:
        """Parsed JSON of a run file; ``StoreError`` naming it when missing or invalid."""

    @abstractmethod
    def read_text(self, run_id: str, relpath: str) -> str:
        """Text of a run file; ``StoreError`` naming it when missing."""

    @abstractmethod
    def iter_jsonl(self, run_id: str, relpath: str) -> Iterator[Any]:
        """Rows of a JSONL run file, streamed."""

    @abstractmethod
    def exists(self, run_id: str, relpath: str) -> bool:
        """Whether a run file exists."""

    @abstractmethod
    def local_dir(self, run_id: str) -> Path:
        """A local folder for the run's model files (the run folder itself for local stores)."""

    @abstractmethod
    def size_bytes(self, run_id: str) -> int:
        """Total bytes of the run's files (for storage accounting)."""

    def work_dir(self) -> Path:
        """A local folder for working files of no run (see the module contract); it may not exist
        yet, so a writer creates it.

        The default is ``root``, right for every store whose ``root`` is a local folder (a local
        store, a remote store's staging folder); a store whose ``root`` only names it overrides this.
        """
        return self.root

    def sync(self, run_id: str) -> None:
        """Upload what was written under ``local_dir``; local stores need nothing."""

    def address(self, run_id: str) -> str:
        """How a user names this run on the command line (``--run``): its folder, or its URL."""
        return str(self.location(run_id).path)

    def prefetch(self, run_ids: Sequence[str], relpaths: Sequence[str]) -> None:
        """A hint before reading ``relpaths`` of many runs (a listing page): a remote store fetches
        them in one go instead of one request per read; local stores need nothing."""

    def file_digests(
        self, run_id: str, scope: Optional[Sequence[str]] = None
    ) -> Tuple[Dict[str, str], List[str]]:
        """``(relpath -> sha256, problems)`` of every file of the run (within ``scope``: files and
        folders), hashed now from what the store holds: the manifest's view of the run.

        Files the manifest leaves out (``domain.manifest.UNSEALED_FILES``) are not listed; entries
        that are not regular files (symlinks leading out, FIFOs) are problems, never opened. The
        default scans ``local_dir``, which is where a local store keeps the whole run.
        """
        return scan_run(self.local_dir(run_id), scope)


StoreFactory = Callable[[Path], ArtifactStore]
"""Opens the store of the runs folder at a location (``bootstrap.open_store``): what a use case takes
instead of a store when the runs it reads may live under several roots (compare), or when it is
handed a run folder rather than a store (the billing facade)."""
