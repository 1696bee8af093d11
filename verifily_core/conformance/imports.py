"""The checks every suite shares: a plugin's entry point module must stay cheap to import, and
every hook in it must be a real Verifily hook.

Why in a fresh interpreter: ``verifily --help`` loads every entry point, so one hooks module that
imports torch at the top makes the whole CLI slow; the test process has already imported them.
Why check hook names here: at run time a misspelt hook only warns (one broken plugin must not stop
every command), so the plugin's own test suite is where it should fail.
"""

from __future__ import annotations

import importlib
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

    def test_hooks_module_implements_only_known_hooks(self, hooks_module: str) -> None:
        from verifily_core.plugins import PluginRegistry

        plugins = PluginRegistry(group="verifily.conformance.no-entry-points")
        plugins.register(importlib.import_module(hooks_module), name="under-test")
        plugins.check_pending()  # PluginError naming a misspelt hook and the closest real one
        plugins.config_schemas()  # PluginError unless a declared schema is a pydantic model
