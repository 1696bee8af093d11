"""Small files of runs this process did not write, read straight from the bucket and cached.

Why a cache on disk: a dashboard over 1,000 runs reads a few small files of each on every look. A
finished run's files rarely change, so they are kept (in ``.listing-cache.json`` of the store's
staging folder) for ``VERIFILY_STORE_CACHE_TTL`` seconds (default 300); a running run's files are
trusted only for the moment they were fetched in.
"""

from __future__ import annotations

import contextlib
import json
import os
import threading
import time
from pathlib import Path
from typing import Dict, Optional, Sequence, Tuple

from verifily_adapters.atomic import atomic_write_text
from verifily_adapters.fsspec_store.bucket import Bucket
from verifily_core.domain.runs import RUN_META
from verifily_core.errors import StoreError

CACHE_ENV = "VERIFILY_STORE_CACHE"
CACHE_TTL_ENV = "VERIFILY_STORE_CACHE_TTL"
FINISHED = ("completed", "failed", "interrupted", "dry_run")
_JUST_FETCHED_S = 2.0


def cache_home() -> Path:
    """Where staging folders and cached listings live."""
    explicit = os.environ.get(CACHE_ENV)
    if explicit:
        return Path(explicit).expanduser()
    xdg = os.environ.get("XDG_CACHE_HOME")
    return (Path(xdg) if xdg else Path.home() / ".cache") / "verifily" / "stores"


class SmallFiles:
    """key -> (fetched at, text or None for a missing object), loaded from and saved to ``cache_file``."""

    def __init__(self, bucket: Bucket, cache_file: Path) -> None:
        self.bucket = bucket
        self.cache_file = cache_file
        self.ttl_s = float(os.environ.get(CACHE_TTL_ENV, "300"))
        self._lock = threading.RLock()
        self._entries: Dict[str, Tuple[float, Optional[str]]] = {}
        self._loaded = False

    def prefetch(self, run_ids: Sequence[str], relpaths: Sequence[str]) -> None:
        """Fetch these files of these runs at once (concurrent requests), for the reads that follow."""
        now = time.time()
        self._load()
        wanted = [
            self.bucket.key(r, rel)
            for r in run_ids
            for rel in relpaths
            if not self._fresh(self.bucket.key(r, rel), now)
        ]
        if not wanted:
            return
        cat = self.bucket.fs.cat
        got = self.bucket.retry(f"Cannot read {self.bucket.url}", cat, wanted, on_error="return")
        with self._lock:
            for key in wanted:
                data = got.get(key)
                text = data.decode("utf-8", "replace") if isinstance(data, bytes) else None
                self._entries[key] = (now, text)
        self._save()

    def fetch(self, run_id: str, rel: str) -> Optional[str]:
        """The text of a run file (None when there is no such object), from the cache while fresh."""
        key = self.bucket.key(run_id, rel)
        self._load()
        if self._fresh(key, time.time()):
            return self._entries[key][1]
        name = self.bucket.name(run_id, rel)
        try:
            data = self.bucket.retry(f"Cannot read {name}", self.bucket.fs.cat_file, key)
            text: Optional[str] = bytes(data).decode("utf-8")
        except FileNotFoundError:
            text = None
        except UnicodeDecodeError as exc:
            raise StoreError(f"Cannot read {name}: {exc}") from None
        with self._lock:
            self._entries[key] = (time.time(), text)
        return text

    def _fresh(self, key: str, now: float) -> bool:
        """Whether the cached copy of ``key`` may be used: fetched just now, or a finished run's file
        fetched less than ``ttl_s`` ago (a running run's files change, a finished run's rarely do)."""
        entry = self._entries.get(key)
        if entry is None:
            return False
        age = now - entry[0]
        if age < _JUST_FETCHED_S:
            return True
        meta = self._entries.get(self.bucket.key(self.bucket.run_of(key), RUN_META))
        finished = meta is not None and meta[1] is not None and _status(meta[1]) in FINISHED
        return finished and age < self.ttl_s

    def _load(self) -> None:
        with self._lock:
            if self._loaded:
                return
            self._loaded = True
            try:
                saved = json.loads(self.cache_file.read_text(encoding="utf-8"))
                self._entries.update({k: (float(v[0]), v[1]) for k, v in saved.items()})
            except (OSError, ValueError, TypeError, IndexError, AttributeError):
                pass  # no cache yet, or an unreadable one: it is only a cache

    def _save(self) -> None:
        with self._lock:
            data = json.dumps({k: list(v) for k, v in self._entries.items()})
        with contextlib.suppress(OSError):  # a read-only cache folder only costs speed
            atomic_write_text(self.cache_file, data)


def _status(run_meta_text: str) -> Optional[str]:
    try:
        data = json.loads(run_meta_text)
    except ValueError:
        return None
    return data.get("status") if isinstance(data, dict) else None
