"""The Optuna study engine and the in-memory fake pass the same study engine suite, so that the tune
tests run on the fake check what the real engine does."""

from __future__ import annotations

import pytest

from verifily_adapters.optuna_study.study import OptunaStudyEngine
from verifily_core.conformance import StudyEngineConformance
from verifily_core.testing import InMemoryStudyEngine


class TestOptunaOnSQLite(StudyEngineConformance):
    @pytest.fixture
    def engine_class(self) -> type:
        return OptunaStudyEngine

    @pytest.fixture
    def hooks_module(self) -> str:
        return "verifily_adapters.optuna_study.hooks"


class TestInMemoryFake(StudyEngineConformance):
    @pytest.fixture
    def engine_class(self) -> type:
        return InMemoryStudyEngine

    @pytest.fixture
    def hooks_module(self) -> str:
        return "verifily_core.testing"
