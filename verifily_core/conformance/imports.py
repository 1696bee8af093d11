"""The check every suite shares: a plugin's entry point module must stay cheap to import.

Why in a fresh interpreter: ``verifily --help`` loads every entry point, so one hooks module that
imports torch at the top makes the whole CLI slow; the test process has already imported them.
"""

from __future__ import annotations

import subprocess
import sys
from typing import List

import pytest

HEAVY_MODULES = ("torch", "transformers", "peft", "gradio", "wandb", "httpx", "mlflow")


def heavy_imports(module: str) -> List[str]:
    """The heavy frameworks that importing ``module`` pulls in, checked in a fresh interpreter."""
    code = f"import sys, {module}; print(','.join(m for m in {HEAVY_MODULES!r} if m in sys.modules))"
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, f"importing {module} failed: {done.stderr[-2000:]}"
    return [m for m in done.stdout.strip().split(",") if m]


class HooksAreLight:
    """Shared by every suite: the entry point module must stay cheap to import."""

    @pytest.fixture
    def hooks_module(self) -> str:
        pytest.skip("override the `hooks_module` fixture with your entry point module's dotted name")

    def test_hooks_module_imports_no_heavy_framework(self, hooks_module: str) -> None:
        assert heavy_imports(hooks_module) == []
