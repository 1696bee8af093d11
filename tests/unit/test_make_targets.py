"""``make demo`` installs what Verifily needs to run, not the test and lint tools; ``make test``
installs those too (issue 18). Checked with ``make -n`` on a fresh copy: what each target would run."""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


def planned(target: str, tmp_path: Path) -> str:
    if shutil.which("make") is None:
        pytest.skip("needs make")
    for name in ("Makefile", "pyproject.toml"):
        shutil.copy(ROOT / name, tmp_path / name)
    # under `make test` the suite is itself a sub-make: drop the parent's settings so that the plan
    # holds only the commands (no "make[1]: Entering directory <tmp path>" lines)
    env = {k: v for k, v in os.environ.items() if k not in ("MAKEFLAGS", "MAKELEVEL", "MFLAGS")}
    proc = subprocess.run(
        ["make", "-n", "--no-print-directory", target],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=60,
        env=env,
    )
    assert proc.returncode == 0, proc.stderr
    return proc.stdout


def test_make_demo_installs_the_runtime_only(tmp_path: Path) -> None:
    plan = planned("demo", tmp_path)
    assert '".[all]"' in plan and "examples/verifily-sklearn" in plan and "verifily demo" in plan
    assert "dev]" not in plan and "verifily-sample-plugin" not in plan and "pytest" not in plan


def test_make_test_installs_the_dev_tools_before_testing(tmp_path: Path) -> None:
    plan = planned("test", tmp_path)
    assert plan.index('".[all]"') < plan.index('".[all,dev]"') < plan.index("-m pytest")
    assert "verifily-sample-plugin" in plan


def test_make_test_runs_all_of_make_lint_before_testing(tmp_path: Path) -> None:
    """CI runs ``make test``: every check of ``make lint`` (ruff, its format check, the import
    contracts, mypy strict over pyproject's [tool.mypy] packages) runs there, before the suite."""
    plan = planned("test", tmp_path)
    checks = (
        ".venv/bin/ruff check",
        ".venv/bin/ruff format --check",
        ".venv/bin/lint-imports",
        ".venv/bin/mypy",
    )
    for check in checks:
        assert check in planned("lint", tmp_path)
        assert check in plan and plan.index(check) < plan.index("-m pytest"), check
