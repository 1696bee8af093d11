"""Where a run was tracked: ``tracking.json`` read as links, for the dashboard and ``compare-cmd``.

Trackers that keep runs on a server of their own (MLflow) write their entry of the run folder's
``tracking.json``: ``{"<tracker>": {"run_id": ..., "url": ... or null, ...}}``. Readers show one
link per tracker and skip entries that are not of that shape: the file is informative, never needed.
It is not sealed (a tracker's replay rewrites it), so what it holds is shown only when it is plainly
a run id and an http(s) address: nothing in it can become a ``javascript:`` link or markup.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any, Dict, List, Optional

_RUN_ID = re.compile(r"[A-Za-z0-9_.:-]{1,128}")
_URL = re.compile(r"https?://[^\s()<>\[\]\"'`]{1,2000}")


@dataclass(frozen=True)
class TrackingLink:
    """One tracker's run of a Verifily run; ``url`` is None when it has no web page (a local store)."""

    tracker: str
    run_id: str
    url: Optional[str] = None

    def shown(self) -> str:
        """``mlflow run 3f2a...: http://host/#/experiments/1/runs/3f2a...`` (no url part without one)."""
        return f"{self.tracker} run {self.run_id}" + (f": {self.url}" if self.url else "")

    def to_dict(self) -> Dict[str, Any]:
        return {"tracker": self.tracker, "run_id": self.run_id, "url": self.url}


def tracking_links(data: Any) -> List[TrackingLink]:
    """The links of a parsed ``tracking.json``, sorted by tracker name."""
    if not isinstance(data, dict):
        return []
    links = []
    for tracker, entry in sorted(data.items()):
        if not isinstance(entry, dict) or not _plain(_RUN_ID, entry.get("run_id")):
            continue
        if not _plain(_RUN_ID, tracker):
            continue
        url = entry.get("url")
        links.append(TrackingLink(str(tracker), entry["run_id"], url if _plain(_URL, url) else None))
    return links


def _plain(pattern: re.Pattern[str], value: Any) -> bool:
    return isinstance(value, str) and pattern.fullmatch(value) is not None
