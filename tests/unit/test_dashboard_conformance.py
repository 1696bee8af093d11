"""The dashboard as the guide describes it (issue 18): dry runs hidden by default, run ids typed or
pasted, the evaluation it shows named, a browser opened only where one can be seen."""

from __future__ import annotations

import json
import os
import pty
import shutil
import subprocess
import sys
import time
from pathlib import Path
from typing import List, Tuple

import pytest

from verifily_adapters.local_store.store import LocalArtifactStore
from verifily_cli.dashboard import comparison, data
from verifily_cli.dashboard.detail import run_detail
from verifily_cli.dashboard.samples import write_demo_runs
from verifily_cli.handlers.dashboard import can_open_browser

Demo = Tuple[LocalArtifactStore, List[str]]


@pytest.fixture(scope="module")
def demo(tmp_path_factory: pytest.TempPathFactory) -> Demo:
    base = tmp_path_factory.mktemp("dash")
    ids = write_demo_runs(base / "runs", base / "data", {"python": "3.11"})
    return LocalArtifactStore(base / "runs"), ids


def named(ids: List[str], name: str) -> str:
    return next(i for i in ids if i.endswith("_" + name))


def test_dry_runs_are_hidden_from_the_runs_table_unless_asked(demo: Demo) -> None:
    store, ids = demo
    dry = named(ids, "dry")
    assert dry.startswith("dryrun_")
    assert dry not in [r.run_id for r in data.run_rows(store)]
    assert dry in [r.run_id for r in data.run_rows(store, dry_runs=True)]
    assert run_detail(store, dry).run_id == dry  # still reachable by id


def test_a_typed_or_pasted_run_id_opens_the_run(demo: Demo) -> None:
    store, ids = demo
    run = named(ids, "baseline")
    for typed in (f"  {run} ", f"runs/{run}/", str(store.root / run)):
        assert data.checked_run_id(store, typed) == run
        assert run_detail(store, typed).run_id == run


def test_compare_and_run_detail_say_which_evaluation_they_show(demo: Demo) -> None:
    store, ids = demo
    first, second = named(ids, "baseline"), named(ids, "lower-lr")
    for run in (first, second):
        folder = store.root / run / "eval"
        (folder / "heldout").mkdir(exist_ok=True)
        results = json.loads((folder / "eval_results.json").read_text())
        results["overall"]["f1"] = 0.5 if run == first else 0.625
        (folder / "heldout" / "eval_results.json").write_text(json.dumps(results))
    assert comparison.evaluation_choices(store, [first, second]) == ["main", "heldout"]
    assert run_detail(store, first).evaluations == ["heldout"]
    main = comparison.compare_runs(store, [first, second], "f1")
    other = comparison.compare_runs(store, [first, second], "f1", "heldout")
    assert main.evaluation == "main" and other.evaluation == "heldout"
    assert other.overall == {first: 0.5, second: 0.625} != main.overall


@pytest.mark.parametrize(
    ("env", "platform", "interactive", "expected"),
    [
        ({"DISPLAY": ":0"}, "linux", True, True),
        ({"WAYLAND_DISPLAY": "wayland-0"}, "linux", True, True),
        ({}, "linux", True, False),  # headless
        ({"DISPLAY": ":0", "SSH_CONNECTION": "1.2.3.4 5 6.7.8.9 22"}, "linux", True, False),
        ({"SSH_TTY": "/dev/pts/1"}, "darwin", True, False),
        ({}, "darwin", True, True),
        ({}, "win32", True, True),
        ({"DISPLAY": ":0"}, "linux", False, False),  # started by a script: stdout not a terminal
    ],
)
def test_a_browser_is_opened_only_where_it_can_be_seen(
    env: dict, platform: str, interactive: bool, expected: bool
) -> None:
    assert can_open_browser(env, platform, interactive) is expected


def _dashboard_in_a_terminal(runs: Path, record: Path, *flags: str, wait_s: float) -> str:
    """Start ``verifily dashboard`` with stdout on a pseudo-terminal and a display, BROWSER set to
    a script that records the URL it is asked to open; returns the URL, or '' when none was
    recorded ``wait_s`` after the dashboard said it is up (the script runs on its own, so the
    URL is waited for, not expected after a fixed pause)."""
    script = record.parent / "browser.sh"
    script.write_text(f'#!/bin/sh\necho "$1" > {record}\n')
    script.chmod(0o755)
    env = {k: v for k, v in os.environ.items() if not k.startswith("SSH_")}
    env.update(DISPLAY=":99", BROWSER=f"{script} %s")
    primary, secondary = pty.openpty()
    port = 7800 + os.getpid() % 150
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "verifily_train.cli",
            "dashboard",
            "--runs-dir",
            str(runs),
            "--port",
            str(port),
            *flags,
        ],
        stdout=secondary,
        stderr=secondary,
        stdin=subprocess.DEVNULL,
        env=env,
    )
    os.close(secondary)
    try:
        deadline = time.monotonic() + 60
        seen = b""
        while time.monotonic() < deadline and b"Dashboard on" not in seen:
            try:
                seen += os.read(primary, 4096)
            except OSError:
                break
        until = time.monotonic() + wait_s
        while time.monotonic() < until and not (record.exists() and record.read_text().strip()):
            time.sleep(0.1)
        return record.read_text().strip() if record.exists() else ""
    finally:
        proc.terminate()
        proc.wait(timeout=30)
        os.close(primary)


@pytest.mark.timeout(150)
def test_the_dashboard_opens_a_browser_from_a_terminal_and_not_with_no_browser(
    demo: Demo, tmp_path: Path
) -> None:
    pytest.importorskip("gradio")
    if shutil.which("sh") is None:
        pytest.skip("needs /bin/sh for the recording browser")
    store, _ = demo
    url = _dashboard_in_a_terminal(store.root, tmp_path / "opened.txt", wait_s=60)
    assert url.startswith("http://localhost:") and url.endswith("/")
    assert _dashboard_in_a_terminal(store.root, tmp_path / "not-opened.txt", "--no-browser", wait_s=2) == ""
