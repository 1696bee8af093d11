"""Screenshots of the dashboard's four tabs for docs/dashboard.md, so the pictures stay current.

Starts ``verifily dashboard`` on a free port over a runs folder (``--runs-dir``; by default the
sample runs of ``verifily_cli.dashboard.samples`` in a temporary folder) and drives Debian's
Chromium through Playwright (never ``playwright install``): Runs, Run Detail of the first
evaluated run, its Hard Examples filtered by a tag value, and a comparison of two runs.

Run: ``python scripts/dashboard_screenshots.py [--runs-dir runs/] [--out docs/images]``.
"""

from __future__ import annotations

import argparse
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path
from typing import Any, List, Optional

CHROMIUM = "/usr/bin/chromium"
ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
        "--disable-sync", "--no-first-run", "--disable-dev-shm-usage"]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def start(runs_dir: Path, port: int) -> subprocess.Popen[bytes]:
    exe = Path(sys.executable).with_name("verifily")
    cmd = [str(exe)] if exe.exists() else [sys.executable, "-m", "verifily_train"]
    proc = subprocess.Popen([*cmd, "dashboard", "--runs-dir", str(runs_dir), "--port", str(port)])
    deadline = time.monotonic() + 90
    while time.monotonic() < deadline and proc.poll() is None:
        try:
            urllib.request.urlopen(f"http://127.0.0.1:{port}/", timeout=2).close()
            return proc
        except OSError:
            time.sleep(0.3)
    proc.kill()
    raise SystemExit("the dashboard did not start")


def pick(page: Any, elem_id: str, option: str) -> None:
    page.locator(f"#{elem_id} input").click()
    page.get_by_role("option", name=option, exact=True).click()


def evaluated_runs(runs_dir: Path) -> List[str]:
    return sorted((p.name for p in runs_dir.iterdir() if (p / "eval" / "eval_results.json").is_file()),
                  reverse=True)


def shoot(url: str, runs_dir: Path, out: Path) -> List[Path]:
    from playwright.sync_api import sync_playwright

    evaluated = evaluated_runs(runs_dir)
    if not evaluated:
        raise SystemExit(f"no evaluated run in {runs_dir}: nothing to show in Run Detail and Compare")
    out.mkdir(parents=True, exist_ok=True)
    shots = []
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, headless=True, args=ARGS)
        page = browser.new_page(viewport={"width": 1280, "height": 900})
        page.goto(url, wait_until="networkidle")
        page.locator("#runs-table [role=gridcell]").first.wait_for()
        shots.append(_save(page, out / "dashboard-runs.png"))
        page.get_by_role("tab", name="Run Detail").click()
        pick(page, "detail-run", evaluated[-1])
        page.locator("#detail-verify").get_by_text("Live verify").wait_for(timeout=60_000)
        shots.append(_save(page, out / "dashboard-run-detail.png"))
        page.get_by_role("tab", name="Hard Examples").click()
        pick(page, "hard-run", evaluated[-1])
        page.locator("#hard-table [role=gridcell]").first.wait_for()
        _filter_first_tag(page)
        shots.append(_save(page, out / "dashboard-hard-examples.png"))
        if len(evaluated) >= 2:
            page.get_by_role("tab", name="Compare").click()
            pick(page, "compare-runs", evaluated[-1])
            pick(page, "compare-runs", evaluated[-2])
            page.locator("#compare-button").click()
            page.locator("#compare-deltas img").wait_for()
            shots.append(_save(page, out / "dashboard-compare.png"))
        browser.close()
    return shots


def _filter_first_tag(page: Any) -> None:
    """Filter the hard examples by the first tag value offered, as a reader would try."""
    page.locator("#hard-tag input").click()
    options = page.get_by_role("option")
    if options.count() > 1:
        options.nth(1).click()
        page.wait_for_timeout(500)


def _save(page: Any, path: Path) -> Path:
    page.wait_for_timeout(800)  # let charts and tables finish their layout
    page.screenshot(path=str(path), full_page=True)
    print(f"wrote {path}")
    return path


def main(argv: Optional[List[str]] = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs-dir", type=Path, help="runs folder to show (default: fresh sample runs)")
    parser.add_argument("--out", type=Path, default=Path(__file__).resolve().parents[1] / "docs" / "images")
    args = parser.parse_args(argv)
    if not Path(CHROMIUM).exists():
        raise SystemExit(f"no {CHROMIUM}: run `bash scripts/ensure_test_packages.sh` first")
    with tempfile.TemporaryDirectory() as tmp:
        runs_dir = args.runs_dir
        if runs_dir is None:
            from verifily_adapters.hf_backend.environment import environment
            from verifily_cli.dashboard.samples import write_demo_runs

            runs_dir = Path(tmp) / "runs"
            write_demo_runs(runs_dir, Path(tmp) / "data", environment())
        port = free_port()
        proc = start(runs_dir, port)
        try:
            shoot(f"http://127.0.0.1:{port}/", runs_dir, args.out)
        finally:
            proc.terminate()
            proc.wait(timeout=10)
    return 0


if __name__ == "__main__":
    sys.exit(main())
