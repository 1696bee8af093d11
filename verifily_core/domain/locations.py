"""Where runs live: a local folder, or a URL of an object store (``s3://bucket/prefix``).

Why the second spelling is accepted too: a value that went through ``pathlib.Path`` on its way here
(a Typer ``Path`` option, a config path resolved early) has lost one slash of its ``//``, and
``s3:/bucket/prefix`` must still mean the bucket, never a local folder named ``s3:``.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Optional, Union

#: URL schemes opened by the object-store adapter (fsspec implementations; see docs/storage.md)
REMOTE_SCHEMES = ("s3", "s3a", "gs", "gcs", "az", "abfs", "abfss", "adl", "memory")
_URL = re.compile(r"^([A-Za-z][A-Za-z0-9+.-]+):/+(.*)$")


def remote_url(location: Union[str, Path, None]) -> Optional[str]:
    """``scheme://rest`` (no trailing slash) when ``location`` names an object store, else None."""
    if location is None:
        return None
    match = _URL.match(str(location))
    if match is None or match.group(1).lower() not in REMOTE_SCHEMES:
        return None
    return f"{match.group(1).lower()}://{match.group(2).rstrip('/')}"


def run_url(runs_url: str, run_id: str) -> str:
    """The URL of run ``run_id`` in the runs folder at ``runs_url``."""
    return f"{runs_url.rstrip('/')}/{run_id}"


def split_run_url(url: str) -> tuple[str, str]:
    """``(runs folder URL, run id)`` of a run's URL."""
    parent, _, run_id = url.rstrip("/").rpartition("/")
    return parent, run_id


__all__ = ["REMOTE_SCHEMES", "remote_url", "run_url", "split_run_url"]
