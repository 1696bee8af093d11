"""docs/storage.md: its Python example runs as written against a real S3 API server (moto), with
the page's bucket name swapped for a test bucket that holds one run."""

from __future__ import annotations

import contextlib
import io
import re
from pathlib import Path
from typing import Any

import pytest

PAGE = Path(__file__).resolve().parents[2] / "docs" / "storage.md"


@pytest.mark.timeout(120)
def test_python_example_lists_the_bucket(s3_server: Any) -> None:
    from verifily_core.bootstrap import open_store

    bucket = s3_server.bucket()
    store = open_store(f"s3://{bucket}/verifily/runs")
    run_id = store.create_run("doc").run_id
    store.write_json(run_id, "run_meta.json", {"run_id": run_id, "status": "completed"})
    (block,) = re.findall(r"```python\n(.*?)```", PAGE.read_text(encoding="utf-8"), flags=re.S)
    shown = io.StringIO()
    with contextlib.redirect_stdout(shown):
        exec(compile(block.replace("my-team-bucket", bucket), str(PAGE), "exec"), {})  # noqa: S102
    assert shown.getvalue() == f"s3://{bucket}/verifily/runs/{run_id} completed\n"
