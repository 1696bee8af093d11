"""One file's SHA-256, written ``sha256:<64 hex>``, and its short form for report lines.

Its own module because both the hash chain (``domain.hashchain``) and the base-model record
(``domain.model_digest``, which the chain holds) hash files: kept here, neither imports the other's
module for it, so the two stay free of an import cycle.
"""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import Optional, Union

from verifily_core.domain.run_files import open_regular
from verifily_core.errors import DataError

PREFIX = "sha256:"
_CHUNK = 1 << 20  # 1 MiB: large enough to amortise calls, small enough for any memory


def sha256_file(path: Union[str, Path]) -> str:
    """SHA-256 of a file's bytes in one streaming pass (constant memory, any file size)."""
    h = hashlib.sha256()
    buf = bytearray(_CHUNK)
    view = memoryview(buf)
    try:
        with open_regular(path) as fh:  # never blocks on a FIFO or device; refuses them
            while True:
                n = fh.readinto(buf)
                if not n:
                    break
                h.update(view[:n])
    except FileNotFoundError:
        raise DataError(f"File not found: {path}") from None
    except IsADirectoryError:
        raise DataError(f"{path} is a folder, expected a file") from None
    return PREFIX + h.hexdigest()


def short(h: Optional[str]) -> str:
    """``sha256:0123456789ab...``: enough to tell hashes apart in a report line."""
    if not h:
        return "missing"
    return h[: len(PREFIX) + 12] + "..." if h.startswith(PREFIX) else h
