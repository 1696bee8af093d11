"""The sample plugin's own conformance tests, collected from our suite too."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import pytest

pytest.importorskip("verifily_sklearn", reason="install examples/verifily-sklearn (make install)")

_spec = importlib.util.spec_from_file_location(
    "verifily_sklearn_conformance",
    Path(__file__).resolve().parents[2] / "examples" / "verifily-sklearn" / "tests" / "test_conformance.py",
)
assert _spec is not None and _spec.loader is not None
_module = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(_module)

TestSklearnBackend = _module.TestSklearnBackend
