"""Append-only JSONL files that several processes share: the billing log and the webhook outbox.

Why both O_APPEND and a lock: O_APPEND alone makes each ``write`` land at the end, but a line may
need several ``write`` calls (or exceed what a filesystem writes atomically), so an exclusive
``flock`` keeps lines whole. The outbox is also rewritten by ``billing flush``: it swaps in a new
file under the lock, so an appender that waited on the old file checks, once it holds the lock,
that its descriptor is still the file at that path, and reopens if not.
"""

from __future__ import annotations

import json
import os
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Iterator, List, Mapping, Sequence

from verifily_adapters.atomic import atomic_write_bytes

try:
    import fcntl
except ImportError:  # Windows: appends stay O_APPEND-atomic per write, without the lock
    fcntl = None  # type: ignore[assignment]


def append_jsonl(path: Path, rows: Sequence[Mapping[str, Any]]) -> None:
    """Append one JSON line per row, locked and fsynced; creates the folder and the file."""
    data = "".join(json.dumps(row, ensure_ascii=False) + "\n" for row in rows).encode("utf-8")
    path.parent.mkdir(parents=True, exist_ok=True)
    while True:
        fd = _open_locked(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT)
        try:
            if _still_at(fd, path):
                view = memoryview(data)
                while view:
                    view = view[os.write(fd, view) :]
                os.fsync(fd)
                return
        finally:
            os.close(fd)  # closing releases the lock


@contextmanager
def locked(path: Path) -> Iterator[bool]:
    """Hold the exclusive lock of the file now at ``path``; yields False when there is none."""
    while True:
        try:
            fd = _open_locked(path, os.O_RDONLY)
        except FileNotFoundError:
            yield False
            return
        try:
            if _still_at(fd, path):
                yield True
                return
        finally:
            os.close(fd)


def read_raw_lines(path: Path) -> List[bytes]:
    """Non-empty lines of a file as bytes, [] when it does not exist.

    Bytes, because a line that is not UTF-8 must be reported and kept as it is, not make the whole
    file unreadable. ``OSError`` (a folder, no permission) is the caller's to report.
    """
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        return []
    return [line for line in data.splitlines() if line.strip()]


def replace_raw_lines(path: Path, lines: Sequence[bytes]) -> None:
    """Atomically replace the file by these lines, or remove it when there are none.

    Call it while holding :func:`locked` on ``path``, so no append is lost in between.
    """
    if not lines:
        path.unlink(missing_ok=True)
        return
    atomic_write_bytes(path, b"".join(line + b"\n" for line in lines))


def _open_locked(path: Path, flags: int) -> int:
    fd = os.open(path, flags, 0o644)
    if fcntl is not None:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX)
        except BaseException:
            os.close(fd)
            raise
    return fd


def _still_at(fd: int, path: Path) -> bool:
    """Whether the open file is still the one at ``path`` (not replaced or removed meanwhile)."""
    try:
        on_disk = os.stat(path)
    except FileNotFoundError:
        return False
    mine = os.fstat(fd)
    return (mine.st_dev, mine.st_ino) == (on_disk.st_dev, on_disk.st_ino)
