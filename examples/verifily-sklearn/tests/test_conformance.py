"""The plugin checks itself against Verifily's ModelBackend contract: a few lines per port."""

from __future__ import annotations

import pytest
from verifily_sklearn.backend import SklearnBackend

from verifily_core.conformance import ModelBackendConformance


class TestSklearnBackend(ModelBackendConformance):
    @pytest.fixture
    def backend_class(self) -> type:
        return SklearnBackend

    @pytest.fixture
    def base_model(self) -> str:
        return "tfidf-logreg"

    @pytest.fixture
    def hooks_module(self) -> str:
        return "verifily_sklearn.hooks"
