"""Example rows and JSONL files for tests.

The rows come from the shipped sample data (``verifily_core.testing.sample_data``, one copy shared
with the demo and the benches), never from the CLI's demo package; rows are deterministic per seed.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Dict, Iterable, Mapping

from verifily_core.testing.sample_data import reverse_rows as reverse_rows
from verifily_core.testing.sample_data import sentiment_rows as sentiment_rows

Row = Dict[str, Any]


def write_jsonl(path: Path, rows: Iterable[Mapping[str, Any]]) -> Path:
    """``rows`` as a JSONL file (parent folders made); the path, for chaining."""
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    return path
