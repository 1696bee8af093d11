"""Where a run was tracked (``tracking.json``) is shown by compare-cmd and the dashboard's Run Detail."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Dict, Optional

import pytest
from typer.testing import CliRunner

from verifily_cli.app import app
from verifily_cli.dashboard.detail import run_detail
from verifily_core.domain.tracking import TrackingLink, tracking_links
from verifily_core.testing import InMemoryArtifactStore

URL = "http://127.0.0.1:5000/#/experiments/1/runs/abc123"
LINKS = {"mlflow": {"run_id": "abc123", "url": URL, "experiment_id": "1"}}


def test_links_are_read_leniently() -> None:
    data = {**LINKS, "local": {"run_id": "x1", "url": None}, "broken": {"url": "u"}, "odd": 3}
    assert tracking_links(data) == [TrackingLink("local", "x1"), TrackingLink("mlflow", "abc123", URL)]
    assert tracking_links(["not", "a", "mapping"]) == []
    assert TrackingLink("local", "x1").shown() == "local run x1"


def _run(root: Path, name: str, f1: float, links: Optional[Dict[str, Any]]) -> Path:
    run = root / name
    (run / "eval").mkdir(parents=True)
    (run / "run_meta.json").write_text(json.dumps({"run_id": name, "status": "completed", "task": "sft"}))
    results = {"task": "sft", "num_examples": 4, "overall": {"f1": f1}, "slices": {}}
    (run / "eval" / "eval_results.json").write_text(json.dumps(results))
    if links is not None:
        (run / "tracking.json").write_text(json.dumps(links))
    return run


def test_compare_cmd_ends_with_the_links_and_json_carries_them(tmp_path: Path) -> None:
    a = _run(tmp_path, "run_a", 0.5, None)
    b = _run(tmp_path, "run_b", 0.75, LINKS)
    runner = CliRunner()
    table = runner.invoke(app, ["compare-cmd", "--runs", f"{a},{b}", "--bootstrap", "0"])
    assert table.exit_code == 0, table.output
    assert f"Tracked in:\n    run_b: mlflow run abc123: {URL}\n" in table.output
    as_json = runner.invoke(
        app, ["compare-cmd", "--runs", f"{a},{b}", "--bootstrap", "0", "--format", "json"]
    )
    assert json.loads(as_json.output)["tracking"] == {
        "run_b": [{"tracker": "mlflow", "run_id": "abc123", "url": URL}]
    }
    c = _run(tmp_path, "run_c", 0.25, None)
    untracked = runner.invoke(
        app, ["compare-cmd", "--runs", f"{a},{c}", "--bootstrap", "0", "--format", "json"]
    )
    assert untracked.exit_code == 0 and "tracking" not in json.loads(untracked.output)


def test_run_detail_links_the_tracker_run() -> None:
    from verifily_cli.dashboard.app import _detail_status

    store = InMemoryArtifactStore()
    [run_id] = [store.create_run("run_x").run_id]
    store.write_json(run_id, "run_meta.json", {"run_id": run_id, "status": "completed", "task": "sft"})
    assert run_detail(store, run_id).tracking == []
    store.write_json(run_id, "tracking.json", LINKS)
    detail = run_detail(store, run_id)
    assert detail.tracking == [TrackingLink("mlflow", "abc123", URL)]
    assert f"- Tracked in mlflow: [run abc123]({URL})" in _detail_status(detail)


@pytest.mark.parametrize(
    "entry",
    [
        {"run_id": "abc", "url": "javascript:alert(1)"},
        {"run_id": "abc", "url": "http://x/a) [click](javascript:alert(1)"},
        {"run_id": "abc", "url": "data:text/html,<script>"},
    ],
)
def test_tracking_links_drop_urls_that_are_not_plain_http(entry: dict) -> None:
    (link,) = tracking_links({"mlflow": entry})
    assert link.url is None and link.run_id == "abc"


def test_tracking_links_skip_run_ids_that_carry_markup() -> None:
    assert tracking_links({"mlflow": {"run_id": "x](javascript:alert(1))", "url": None}}) == []
