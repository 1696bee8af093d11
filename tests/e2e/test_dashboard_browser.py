"""``verifily dashboard`` end to end: a real server process driven by Debian's Chromium (Playwright).

The runs folder is made by the real train and evaluate use cases (scripted model, see
``verifily_cli.dashboard.samples``), plus a corrupt run folder and, outside the folder, a run full
of a secret marker that a symlink inside the folder points at: no input, API call or URL may ever
show that marker. A failing browser test leaves a screenshot under ``test-artifacts/``.
"""

from __future__ import annotations

import http.client
import json
import os
import shutil
import subprocess
import sys
import urllib.parse
import urllib.request
from pathlib import Path
from typing import Any, Iterator, List, Tuple

import pytest
from helpers.servers import DashboardServer, free_port

from verifily_adapters.hf_backend.environment import environment
from verifily_cli.dashboard.samples import DEMO_RUNS, write_demo_runs

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
    "--disable-dev-shm-usage",
]
ARTIFACTS = Path(__file__).resolve().parents[2] / "test-artifacts"
SECRET = "SECRET-OUTSIDE-RUNS-7f3a"
EVIL_LINK = "run_20990101_000000_evil"
BAD_ID = "run_20990101_000000_badbad"

Runs = Tuple[Path, List[str]]
needs_chromium = pytest.mark.skipif(
    not os.access(CHROMIUM, os.X_OK), reason=f"no {CHROMIUM}: run `bash scripts/ensure_test_packages.sh`"
)


def verifily_cmd(*args: str) -> List[str]:
    exe = Path(sys.executable).with_name("verifily")
    return [str(exe), *args] if exe.exists() else [sys.executable, "-m", "verifily_train", *args]


def write_outside_run(folder: Path) -> None:
    """A run-shaped folder outside the runs folder whose every file carries the secret marker."""
    (folder / "eval").mkdir(parents=True)
    meta = {"run_id": SECRET, "status": "completed", "task": "sft", "base_model": SECRET, "metrics": {}}
    (folder / "run_meta.json").write_text(json.dumps(meta), encoding="utf-8")
    results = {"overall": {"f1": 0.5}, "slices": {"source": {SECRET: {"n": 1, "f1": 0.5}}}}
    (folder / "eval" / "eval_results.json").write_text(json.dumps(results), encoding="utf-8")
    row = {"rank": 1, "f1": 0.0, "input": SECRET, "prediction": SECRET, "reference": SECRET, "tags": {}}
    (folder / "eval" / "hard_examples.jsonl").write_text(json.dumps(row) + "\n", encoding="utf-8")


@pytest.fixture(scope="module")
def runs(tmp_path_factory: pytest.TempPathFactory) -> Runs:
    base = tmp_path_factory.mktemp("dashboard")
    runs_dir = base / "runs"
    ids = write_demo_runs(runs_dir, base / "data", environment())
    write_outside_run(base / "outside")
    (runs_dir / EVIL_LINK).symlink_to(base / "outside", target_is_directory=True)
    return runs_dir, ids


@pytest.fixture(scope="module")
def server(runs: Runs) -> Iterator[Tuple[str, subprocess.Popen[bytes]]]:
    runs_dir, _ids = runs
    dashboard = DashboardServer(str(runs_dir), runs_dir.parent / "dashboard.log").start()
    assert dashboard.proc is not None
    yield dashboard.uri + "/", dashboard.proc
    dashboard.stop()


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS)
        yield b
        b.close()


@pytest.fixture
def page(browser: Any, server: Tuple[str, Any], request: pytest.FixtureRequest) -> Iterator[Any]:
    """A fresh page on the dashboard; a screenshot is kept when the test fails."""
    failed_before = request.session.testsfailed
    pg = browser.new_page(viewport={"width": 1400, "height": 1000})
    pg.set_default_timeout(30_000)
    pg.goto(server[0], wait_until="networkidle")
    pg.locator("#runs-table [role=gridcell]").first.wait_for()
    yield pg
    if request.session.testsfailed > failed_before:
        ARTIFACTS.mkdir(exist_ok=True)
        pg.screenshot(path=str(ARTIFACTS / f"{request.node.name}.png"), full_page=True)
    pg.close()


def table_rows(page: Any, elem_id: str) -> List[List[str]]:
    """The visible rows of a Gradio Dataframe, as text cells, in display order."""
    return page.evaluate(
        """(id) => Array.from(document.querySelectorAll('#' + id + ' div[role=row].virtual-row'))
             .sort((a, b) => Number(a.dataset.index) - Number(b.dataset.index))
             .map(r => Array.from(r.querySelectorAll('[role=gridcell]')).map(c => c.innerText.trim()))""",
        elem_id,
    )


def pick(page: Any, elem_id: str, option: str) -> None:
    """Choose ``option`` in a Gradio dropdown as a user does: open it, click the option."""
    page.locator(f"#{elem_id} input").click()
    page.get_by_role("option", name=option, exact=True).click()


def run_id(ids: List[str], name: str) -> str:
    return next(i for i in ids if i.endswith(f"_{name}"))


def eval_results(runs_dir: Path, rid: str) -> Any:
    return json.loads((runs_dir / rid / "eval" / "eval_results.json").read_text(encoding="utf-8"))


# ---------------------------------------------------------------------- the four tabs


@pytest.mark.browser
@needs_chromium
def test_runs_tab_lists_every_run_marks_the_corrupt_one_and_sorts(page: Any, runs: Runs) -> None:
    runs_dir, ids = runs
    assert page.get_by_role("tab").all_inner_texts() == ["Runs", "Run Detail", "Hard Examples", "Compare"]
    rows = {r[0]: r for r in table_rows(page, "runs-table")}
    listed = {i for i in ids if not i.startswith("dryrun_")}  # dry runs are hidden by default
    assert set(rows) == listed, "every run folder, and only those, is listed (no symlinked escape)"
    assert "1 dry run(s) hidden" in page.inner_text("body")
    assert rows[BAD_ID][1] == "corrupt" and "not valid JSON" in rows[BAD_ID][-1]
    baseline = run_id(ids, "baseline")
    f1 = eval_results(runs_dir, baseline)["overall"]["f1"]
    assert rows[baseline][1:3] == ["completed", "sft"] and rows[baseline][5] == "f1"
    assert float(rows[baseline][6]) == pytest.approx(f1, abs=1e-4)
    assert rows[run_id(ids, "oom")][1] == "failed"

    header = page.locator("#runs-table th[title='Train loss']")
    header.hover()
    header.locator("button.cell-menu-button").click()
    page.get_by_text("Sort ascending").click()
    losses = [float(r[4]) for r in table_rows(page, "runs-table") if r[4]]
    assert len(losses) == 2 and losses == sorted(losses)

    dry = run_id(ids, "dry")
    page.locator("#show-dry-runs input").check()
    page.wait_for_function("(id) => document.querySelector('#runs-table').innerText.includes(id)", arg=dry)
    assert {r[0] for r in table_rows(page, "runs-table")} == set(ids)


@pytest.mark.browser
@needs_chromium
def test_refresh_rescans_the_folder(page: Any, runs: Runs) -> None:
    runs_dir, ids = runs
    new_id = "run_20990102_000000_copied"
    shutil.copytree(runs_dir / run_id(ids, "baseline"), runs_dir / new_id)
    try:
        assert new_id not in [r[0] for r in table_rows(page, "runs-table")]
        page.locator("#refresh").click()
        page.wait_for_function(
            "(id) => document.querySelector('#runs-table').innerText.includes(id)", arg=new_id
        )
        assert new_id in [r[0] for r in table_rows(page, "runs-table")]
    finally:
        shutil.rmtree(runs_dir / new_id)


@pytest.mark.browser
@needs_chromium
def test_run_detail_shows_slices_loss_plot_and_a_passing_live_verify(page: Any, runs: Runs) -> None:
    runs_dir, ids = runs
    baseline = run_id(ids, "baseline")
    page.get_by_role("tab", name="Run Detail").click()
    pick(page, "detail-run", baseline)
    page.locator("#detail-verify").get_by_text("Live verify").wait_for()
    slices = eval_results(runs_dir, baseline)["slices"]
    shown = {(r[0], r[1]): r for r in table_rows(page, "detail-slices")}
    assert set(shown) == {(k, v) for k, t in slices.items() for v in t}
    assert int(shown[("source", "human")][2]) == slices["source"]["human"]["n"]
    assert page.locator("#detail-loss img").count() == 1, "the loss curve is drawn"
    assert page.locator("#detail-slices-plot img").count() == 1, "the slice bar charts are drawn"
    assert "Live verify: PASS" in page.inner_text("#detail-verify")
    hashes = dict(tuple(r) for r in table_rows(page, "detail-hashes"))
    recorded = json.loads((runs_dir / baseline / "hashes.json").read_text(encoding="utf-8"))
    assert hashes["reproducibility_hash"] == recorded["reproducibility_hash"]


@pytest.mark.browser
@needs_chromium
def test_a_corrupt_run_shows_its_problem_and_the_page_keeps_working(page: Any, runs: Runs) -> None:
    _runs_dir, ids = runs
    page.get_by_role("tab", name="Run Detail").click()
    pick(page, "detail-run", BAD_ID)
    page.locator("#detail-status").get_by_text("not valid JSON").wait_for()
    page.locator("#detail-verify").get_by_text("Live verify: not checked").wait_for()
    pick(page, "detail-run", run_id(ids, "lower-lr"))
    page.locator("#detail-verify").get_by_text("Live verify: PASS").wait_for()


@pytest.mark.browser
@needs_chromium
def test_hard_examples_appear_and_filter_by_tag_value(page: Any, runs: Runs) -> None:
    runs_dir, ids = runs
    baseline = run_id(ids, "baseline")
    page.get_by_role("tab", name="Hard Examples").click()
    pick(page, "hard-run", baseline)
    page.locator("#hard-table [role=gridcell]").get_by_text("source=").first.wait_for()
    lines = (runs_dir / baseline / "eval" / "hard_examples.jsonl").read_text(encoding="utf-8").splitlines()
    all_rows = table_rows(page, "hard-table")
    assert [r[3] for r in all_rows] == [json.loads(line)["input"] for line in lines]
    pick(page, "hard-tag", "source=synthetic")
    expected = [json.loads(x) for x in lines if json.loads(x)["tags"]["source"] == "synthetic"]
    rows_js = "(n) => document.querySelectorAll('#hard-table div[role=row].virtual-row').length == n"
    page.wait_for_function(rows_js, arg=len(expected))
    filtered = table_rows(page, "hard-table")
    assert [r[3] for r in filtered] == [e["input"] for e in expected]
    assert all("source=synthetic" in r[2] for r in filtered)


@pytest.mark.browser
@needs_chromium
def test_compare_two_runs_shows_deltas_and_the_config_diff(page: Any, runs: Runs) -> None:
    runs_dir, ids = runs
    first, second = run_id(ids, "baseline"), run_id(ids, "lower-lr")
    page.get_by_role("tab", name="Compare").click()
    pick(page, "compare-runs", first)
    pick(page, "compare-runs", second)
    page.wait_for_function("() => document.querySelector('#compare-metric input').value == 'f1'")
    page.locator("#compare-button").click()
    page.locator("#compare-summary").get_by_text("baseline").wait_for()
    overall = {r[0]: r for r in table_rows(page, "compare-overall")}
    f1 = {rid: eval_results(runs_dir, rid)["overall"]["f1"] for rid in (first, second)}
    assert float(overall[second][2]) == pytest.approx(f1[second] - f1[first], abs=1e-4)
    slices = table_rows(page, "compare-slices")
    assert {r[0] for r in slices} == {
        f"{k}={v}" for k, t in eval_results(runs_dir, first)["slices"].items() for v in t
    }
    diff = {r[0]: r[1:] for r in table_rows(page, "compare-config")}
    sample = next(s for s in DEMO_RUNS if s.name == "lower-lr")
    for key, value in sample.overrides.items():
        assert float(diff[key][1]) == pytest.approx(value)
    assert page.locator("#compare-deltas img").count() == 1, "the per-slice deltas chart is drawn"
    assert "Config differences:" in page.inner_text("#compare-report")


def type_in(page: Any, elem_id: str, text: str) -> None:
    """Type (as if pasted) into a Gradio dropdown's text box and press Enter."""
    box = page.locator(f"#{elem_id} input")
    box.click()
    box.fill(text)
    box.press("Enter")


@pytest.mark.browser
@needs_chromium
def test_run_ids_typed_or_pasted_open_runs_and_compare_names_its_evaluation(page: Any, runs: Runs) -> None:
    runs_dir, ids = runs
    first, second = run_id(ids, "baseline"), run_id(ids, "lower-lr")
    page.get_by_role("tab", name="Run Detail").click()
    type_in(page, "detail-run", f"runs/{first}/")  # a pasted folder path works too
    page.locator("#detail-status").get_by_text(first).wait_for()
    page.locator("#detail-verify").get_by_text("Live verify: PASS").wait_for()
    page.get_by_role("tab", name="Compare").click()
    type_in(page, "compare-runs", first)
    type_in(page, "compare-runs", second)
    page.wait_for_function("() => document.querySelector('#compare-metric input').value == 'f1'")
    page.locator("#compare-button").click()
    page.locator("#compare-summary").get_by_text("baseline").wait_for()
    assert "on evaluation main (eval/)" in page.inner_text("#compare-summary")
    assert {r[0] for r in table_rows(page, "compare-overall")} == {first, second}


# ---------------------------------------------------------------------- safety


def call_api(url: str, api_name: str, payload: List[Any]) -> str:
    """One Gradio API call (POST then read the event stream); the raw answer text."""
    body = json.dumps({"data": payload}).encode()
    req = urllib.request.Request(
        f"{url}gradio_api/call/{api_name}", data=body, headers={"Content-Type": "application/json"}
    )
    with urllib.request.urlopen(req, timeout=30) as resp:
        event_id = json.loads(resp.read())["event_id"]
    with urllib.request.urlopen(f"{url}gradio_api/call/{api_name}/{event_id}", timeout=60) as resp:
        return resp.read().decode("utf-8", errors="replace")


def escapes(runs_dir: Path) -> List[str]:
    outside = str(runs_dir.parent / "outside")
    return [
        "../outside",
        outside,
        urllib.parse.quote("../outside", safe=""),
        "%2e%2e%2foutside",
        "..%2F..%2Foutside",
        EVIL_LINK,
        f"{BAD_ID}/../../outside",
        "..",
        "/",
        "",
    ]


def test_api_endpoints_reject_every_traversal(server: Tuple[str, Any], runs: Runs) -> None:
    url, _proc = server
    runs_dir, ids = runs
    baseline = run_id(ids, "baseline")
    control = call_api(url, "hard_examples", [baseline, "(all tags)"])
    assert "source=" in control, f"the API channel itself works: {control[:300]}"
    for bad in escapes(runs_dir):
        calls = (
            ("run_detail", [bad]),
            ("verify", [bad]),
            ("hard_examples", [bad, "(all tags)"]),
            ("compare_metrics", [[bad, baseline]]),
            ("compare", [[baseline, bad], "f1", "main"]),
        )
        for api_name, payload in calls:
            answer = call_api(url, api_name, payload)
            assert SECRET not in answer, f"{api_name}({bad!r}) leaked the outside run: {answer[:300]}"


def http_get(url: str, path: str) -> Tuple[int, str]:
    """GET ``path`` exactly as written (no normalisation of ``..`` or ``%2F``)."""
    parsed = urllib.parse.urlparse(url)
    conn = http.client.HTTPConnection(parsed.hostname, parsed.port, timeout=15)
    try:
        conn.request("GET", path)
        resp = conn.getresponse()
        return resp.status, resp.read(200_000).decode("utf-8", errors="replace")
    finally:
        conn.close()


def test_file_routes_serve_no_run_file_and_nothing_outside(server: Tuple[str, Any], runs: Runs) -> None:
    url, _proc = server
    runs_dir, ids = runs
    run = runs_dir / run_id(ids, "baseline")
    outside = runs_dir.parent / "outside" / "run_meta.json"
    targets = [
        str(run / "run_meta.json"),
        str(run / "hashes.json"),
        str(run / "eval" / "eval_results.json"),
        str(runs_dir / EVIL_LINK / "run_meta.json"),
        str(outside),
        "/etc/passwd",
        "../../../../../../etc/passwd",
        urllib.parse.quote("../../../../../etc/passwd", safe=""),
    ]
    paths = [f"/{prefix}file={t}" for t in targets for prefix in ("", "gradio_api/")]
    paths += [
        "/static/..%2F..%2F..%2Fetc%2Fpasswd",
        f"/gradio_api/file={urllib.parse.quote(str(run / 'hashes.json'))}",
    ]
    for path in paths:
        status, body = http_get(url, path)
        leaked = [m for m in ("root:x:0:0", '"reproducibility_hash"', '"config_hash"', SECRET) if m in body]
        assert not leaked, f"GET {path} -> {status} served {leaked}"


def test_dashboard_process_loaded_no_torch(server: Tuple[str, Any]) -> None:
    _url, proc = server
    maps = Path(f"/proc/{proc.pid}/maps")
    if not maps.exists():
        pytest.skip("no /proc on this platform")
    text = maps.read_text(errors="replace")
    assert "libtorch" not in text and "torch/_C" not in text


def test_non_loopback_host_without_auth_is_refused(tmp_path: Path) -> None:
    port = str(free_port())
    cmd = verifily_cmd("dashboard", "--runs-dir", str(tmp_path), "--host", "0.0.0.0", "--port", port)
    result = subprocess.run(cmd, capture_output=True, text=True, timeout=60)
    assert result.returncode == 2
    assert "--auth" in result.stderr and "0.0.0.0" in result.stderr
    assert "Traceback" not in result.stderr + result.stdout


# ---------------------------------------------------------------------- over a bucket (s3://)


def upload_folder(s3_server: Any, folder: Path, bucket: str, prefix: str) -> None:
    """Copy a runs folder into the bucket object by object, as a team's runs would be there."""
    client = s3_server.client()
    for path in sorted(p for p in folder.rglob("*") if p.is_file() and not p.is_symlink()):
        key = f"{prefix}/{path.relative_to(folder).as_posix()}"
        client.put_object(Bucket=bucket, Key=key, Body=path.read_bytes())


@pytest.mark.browser
@needs_chromium
@pytest.mark.timeout(300)
def test_dashboard_over_a_bucket_lists_and_opens_its_runs(
    browser: Any, s3_server: Any, tmp_path: Path, request: pytest.FixtureRequest
) -> None:
    local = tmp_path / "runs"
    ids = write_demo_runs(local, tmp_path / "data", environment())
    bucket = s3_server.bucket()
    upload_folder(s3_server, local, bucket, "team/runs")
    dashboard = DashboardServer(f"s3://{bucket}/team/runs", tmp_path / "dashboard.log", cwd=tmp_path).start()
    pg = browser.new_page(viewport={"width": 1400, "height": 1000})
    try:
        url = dashboard.uri + "/"
        pg.set_default_timeout(30_000)
        pg.goto(url, wait_until="networkidle")
        pg.locator("#runs-table [role=gridcell]").first.wait_for()
        rows = {r[0]: r for r in table_rows(pg, "runs-table")}
        assert set(rows) == {i for i in ids if not i.startswith("dryrun_")}  # dry runs hidden by default
        baseline = run_id(ids, "baseline")
        assert rows[baseline][1:3] == ["completed", "sft"]
        assert rows[BAD_ID][1] == "corrupt"
        assert f"s3://{bucket}/team/runs" in pg.locator("body").inner_text()
        assert not (tmp_path / "s3:").exists(), "the URL became a local folder"
    except BaseException:
        ARTIFACTS.mkdir(exist_ok=True)
        pg.screenshot(path=str(ARTIFACTS / f"{request.node.name}.png"), full_page=True)
        raise
    finally:
        pg.close()
        dashboard.stop()
