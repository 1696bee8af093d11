"""The ports the core talks through; adapters implement them (see docs/plugins.md)."""

from verifily_core.ports.artifact_store import ArtifactStore, RunLocation
from verifily_core.ports.billing_sink import BillingSink
from verifily_core.ports.model_backend import ArtifactLayout, LaunchPlan, ModelBackend, Predictor
from verifily_core.ports.study import Study, StudyEngine, StudySettings, Trial
from verifily_core.ports.tracker import Tracker

__all__ = [
    "ArtifactLayout",
    "ArtifactStore",
    "BillingSink",
    "LaunchPlan",
    "ModelBackend",
    "Predictor",
    "RunLocation",
    "Study",
    "StudyEngine",
    "StudySettings",
    "Tracker",
    "Trial",
]
