"""Where a run was tracked: ``tracking.json`` read as links, for the dashboard and ``compare-cmd``.

Trackers that keep runs on a server of their own (MLflow) write their entry of the run folder's
``tracking.json``: ``{"<tracker>": {"run_id": ..., "url": ... or null, ...}}``. Readers show one
link per tracker and skip entries that are not of that shape: the file is informative, never needed.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Dict, List, Optional


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
        if isinstance(entry, dict) and isinstance(entry.get("run_id"), str):
            url = entry.get("url")
            links.append(TrackingLink(str(tracker), entry["run_id"], url if isinstance(url, str) else None))
    return links
