"""Paths inside a run folder, confined: the one helper every command and the dashboard go through.

A run folder is input that anyone may have edited: ``hashes.json`` names files by key, JSON files
name other files, and any entry may be a symlink or a FIFO. So a run-relative path is accepted only
when it is a plain relative POSIX path (no ``..``, not absolute, no backslash or NUL) *and* it
resolves inside the run folder once every symlink is followed; and a file is opened only when it
is a regular file, opened without blocking (a FIFO or device would hang a plain ``open``) and
checked with ``fstat`` on the open descriptor, so swapping the file after the check does not help.

Violations raise :class:`UnsafePathError` (a ``StoreError``) naming the path; the manifest scan
(:func:`scan_files`) reports them as problems instead, since there they are a verification finding.
A symlink that stays inside the folder is allowed (and sealed by its link text).
"""

from __future__ import annotations

import io
import os
import stat
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath
from typing import Dict, List, Tuple, Union

from verifily_core.errors import UnsafePathError

PathLike = Union[str, Path]
#: Kernel pseudo-filesystems: their "regular" files can be endless (``/proc/self/pagemap``).
_PSEUDO_ROOTS = ("/proc/", "/sys/", "/dev/")
_READ_FLAGS = os.O_RDONLY | getattr(os, "O_NONBLOCK", 0) | getattr(os, "O_CLOEXEC", 0)


def checked_relpath(relpath: str) -> str:
    """``relpath`` as a normalised POSIX path inside a run folder; UnsafePathError otherwise."""
    if not isinstance(relpath, str) or not relpath or "\x00" in relpath or "\\" in relpath:
        raise UnsafePathError(f"Not a run-folder path: {str(relpath)[:120]!r}")
    pure = PurePosixPath(relpath)
    if pure.is_absolute() or ".." in pure.parts or (len(relpath) > 1 and relpath[1] == ":"):
        raise UnsafePathError(
            f"Run-folder path {relpath[:120]!r} leaves the run folder (absolute or with '..')",
            hint="Paths in a run folder's files are relative to the folder; the folder was edited.",
        )
    parts = [p for p in pure.parts if p not in ("", ".")]
    if not parts:
        raise UnsafePathError(f"Not a run-folder path: {relpath!r}")
    return "/".join(parts)


def confined(run_dir: PathLike, relpath: str) -> Path:
    """The path of ``relpath`` in ``run_dir``, after checking that it resolves inside the folder.

    Symlinks are followed (also ones created by a hostile hand) and the result must stay inside the
    resolved run folder; a path that does not exist yet is checked through its existing parents, so
    a write through an ``eval/`` symlink that points elsewhere is refused too.
    """
    rel = checked_relpath(relpath)
    root = Path(run_dir).resolve()
    target = root / rel
    resolved = target.resolve()  # strict=False: non-existing tails are kept as written
    if resolved != root and root not in resolved.parents:
        raise UnsafePathError(
            f"{rel} in run folder {root} leads outside it (to {resolved}) through a symlink",
            hint="Remove the symlink that leads out of the run folder.",
        )
    return target


def open_regular(path: PathLike) -> io.BufferedReader:
    """Open a regular file for binary reading without ever blocking; UnsafePathError otherwise.

    ``FileNotFoundError``/``IsADirectoryError``/``PermissionError`` pass through for the caller to
    word; a FIFO, socket or device is refused after ``fstat`` on the descriptor actually opened, and
    so is any file under ``/proc``, ``/sys`` or ``/dev``.
    """
    if str(Path(path).resolve()).startswith(_PSEUDO_ROOTS):
        raise UnsafePathError(f"{path} is in a pseudo-filesystem (/proc, /sys, /dev); refused")
    fd = os.open(path, _READ_FLAGS)
    try:
        mode = os.fstat(fd).st_mode
        if stat.S_ISDIR(mode):
            raise IsADirectoryError(f"{path} is a folder")
        if not stat.S_ISREG(mode):
            raise UnsafePathError(f"{path} is not a regular file (a FIFO, socket or device); refused")
        os.set_blocking(fd, True)
        return io.BufferedReader(io.FileIO(fd, "rb", closefd=True))
    except BaseException:
        os.close(fd)
        raise


def read_confined(run_dir: PathLike, relpath: str) -> bytes:
    """The bytes of a regular file inside ``run_dir`` (confined, never blocking)."""
    with open_regular(confined(run_dir, relpath)) as fh:
        return fh.read()


@dataclass
class Scan:
    """What a folder holds: regular files, symlinks that stay inside it, and everything else."""

    files: List[str] = field(default_factory=list)
    links: Dict[str, str] = field(default_factory=dict)  # relpath -> link text (stays inside)
    problems: List[Tuple[str, str]] = field(default_factory=list)  # (relpath, what is wrong)


def scan_files(root: PathLike, *, follow_symlinks: bool = False) -> Scan:
    """Every regular file under ``root`` (sorted), and what is not one.

    Without ``follow_symlinks`` (a run folder) nothing is followed: a symlink that resolves inside
    the folder is listed with its link text (tools such as wandb make ``latest-run`` links), one that
    leaves it, and every special file, is a problem. With it (a model folder, e.g. a Hugging Face
    cache snapshot whose files are symlinks into ``blobs/``) links are followed; special files are
    still skipped.
    """
    base = Path(root)
    real = base.resolve()
    scan = Scan()

    def link(rel: str, path: Path) -> None:
        target = path.resolve()
        if target == real or real in target.parents:
            scan.links[rel] = os.readlink(path)
        else:
            scan.problems.append((rel, f"symlink leaving the folder (to {target})"))

    for dirpath, dirnames, filenames in os.walk(base, followlinks=follow_symlinks):
        here = Path(dirpath)
        for name in list(dirnames):
            if not follow_symlinks and (here / name).is_symlink():
                link((here / name).relative_to(base).as_posix(), here / name)
                dirnames.remove(name)
        dirnames.sort()
        for name in sorted(filenames):
            path = here / name
            rel = path.relative_to(base).as_posix()
            try:
                mode = (os.stat if follow_symlinks else os.lstat)(path).st_mode
            except OSError as exc:
                scan.problems.append((rel, f"unreadable ({exc.strerror})"))
                continue
            if stat.S_ISREG(mode):
                scan.files.append(rel)
            elif stat.S_ISLNK(mode):
                link(rel, path)
            else:
                scan.problems.append((rel, "not a regular file (FIFO, socket or device)"))
    scan.files.sort()
    return scan


__all__ = ["Scan", "checked_relpath", "confined", "open_regular", "read_confined", "scan_files"]
