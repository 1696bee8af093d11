"""Reusable pytest suites that check a plugin against its port's contract (see docs/plugins.md).

A plugin's own tests subclass one class and name the class under test with a fixture::

    from verifily_core.conformance import ModelBackendConformance

    class TestMyBackend(ModelBackendConformance):
        @pytest.fixture
        def backend_class(self):
            return MyBackend

Only test suites import this package (it imports pytest); nothing in the core imports it. One
module per port (``backend``, ``store``, ``tracker``, ``billing``, ``study``); every fixture of the
suites is a default a subclass may override (``base_model``, ``task``, ``config_overrides``, ``hooks_module``,
``tracker_env``, ``sink_env``...).
"""

from __future__ import annotations

from verifily_core.conformance.backend import ModelBackendConformance
from verifily_core.conformance.billing import BillingSinkConformance
from verifily_core.conformance.imports import heavy_imports
from verifily_core.conformance.store import ArtifactStoreConformance
from verifily_core.conformance.study import StudyEngineConformance
from verifily_core.conformance.tasks import reverse_examples, sentiment_examples
from verifily_core.conformance.tracker import TrackerConformance

__all__ = [
    "ArtifactStoreConformance",
    "BillingSinkConformance",
    "ModelBackendConformance",
    "StudyEngineConformance",
    "TrackerConformance",
    "heavy_imports",
    "reverse_examples",
    "sentiment_examples",
]
