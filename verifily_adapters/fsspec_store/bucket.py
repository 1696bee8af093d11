"""The objects under one URL: their keys, the names messages show, retried calls, and listings.

Why retries here: every request to an object store may fail on a transient network error; one place
retries with backoff and turns the last failure into a ``StoreError`` naming the object (never the
credentials: the filesystem library's error text names the object only).
"""

from __future__ import annotations

import time
from pathlib import PurePosixPath
from typing import Any, Callable, Dict, Set, TypeVar

from verifily_core.domain.runs import is_plain_run_id
from verifily_core.errors import StoreError

T = TypeVar("T")
CLAIM = ".created"  # the object that claims a run id (an exclusive PUT); not a file of the run
ATTEMPTS = 4


def run_relpath(relpath: str) -> str:
    """``relpath`` as a POSIX path inside a run folder; a path that leaves the folder is a StoreError."""
    rel = PurePosixPath(relpath)
    if rel.is_absolute() or ".." in rel.parts or not rel.parts or "\\" in relpath:
        raise StoreError(f"Run file paths are relative to the run folder, got {relpath!r}")
    return rel.as_posix()


class Bucket:
    """The filesystem of ``url`` (``s3://bucket/prefix``) and the keys of the run folders under it."""

    def __init__(self, url: str) -> None:
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
        self.base = str(base).rstrip("/")

    def key(self, run_id: str, relpath: str = "") -> str:
        """The filesystem's key of a run folder, or of one of its files."""
        return f"{self.base}/{run_id}" + (f"/{relpath}" if relpath else "")

    def run_of(self, key: str) -> str:
        """The run id a key of :meth:`key` belongs to."""
        return key[len(self.base) + 1 :].split("/", 1)[0]

    def name(self, run_id: str, relpath: str) -> str:
        """A run file as messages show it (its URL)."""
        return f"{self.url}/{run_id}/{relpath}"

    def address(self, run_id: str) -> str:
        return f"{self.url}/{run_id}"

    def retry(self, what: str, call: Callable[..., T], *args: Any, **kwargs: Any) -> T:
        """``call(*args, **kwargs)`` with retries and backoff on transient errors; then a StoreError
        naming ``what``. A missing or existing object, or a refusal, is an answer, not retried."""
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

    def run_folders(self) -> Set[str]:
        """The run ids with a folder under the URL now (one listing request)."""
        try:
            entries = self.retry(f"Cannot list {self.url}", self.fs.ls, self.base, detail=False, refresh=True)
        except FileNotFoundError:
            entries = []
        found = {str(e).rstrip("/").rsplit("/", 1)[-1] for e in entries}
        return {i for i in found if is_plain_run_id(i)}

    def objects(self, run_id: str) -> Dict[str, Dict[str, Any]]:
        """relpath -> object info of every object of the run (the claim marker excluded)."""
        prefix = self.key(run_id) + "/"
        try:
            found = self.retry(
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
