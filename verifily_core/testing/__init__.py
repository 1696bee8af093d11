"""Fakes of the ports, shipped with the core so that our tests and plugin authors' tests use
the same ones (as httpx ships ``MockTransport``).

* :class:`ScriptedModelBackend` (``backend: scripted``): "trains" along a scripted loss curve in
  no time, writes a small adapter so that artifact hashing has bytes to hash, and loads a
  :class:`ScriptedPredictor` whose answers are enqueued or, by default, echo the reference output
  (SFT) or give the first label (classification). Every call is kept in ``history``.
* :class:`InMemoryArtifactStore` (``store: memory``): run files in a dict, with the same run id
  and path rules as the local store; behaves like a remote store (``local_dir`` is a temp folder
  whose files reach the store on ``sync``).
* :class:`InMemoryStudyEngine` (``memory``): studies in a dict, for the tune use case; a test says
  which workers are gone (``stopped``) or silent (``silent``) instead of killing processes.
* :class:`RecordingTracker` and :class:`RecordingBillingSink` (both ``recording``): keep what they
  were given; both can be told to fail, to prove that a run survives a broken tracker or sink.

Core use cases take ports as arguments, so most tests pass these instances directly. To select
them by name instead, register this package: ``registry.register(verifily_core.testing)``; the
hook functions live here, on the package itself, so that the registry finds them.
"""

from __future__ import annotations

from verifily_core.plugins.hookspecs import hookimpl
from verifily_core.ports import ArtifactStore, BillingSink, ModelBackend, StudyEngine, Tracker
from verifily_core.testing.backend import ScriptedModelBackend, ScriptedPredictor
from verifily_core.testing.recording import RecordingBillingSink, RecordingTracker
from verifily_core.testing.store import InMemoryArtifactStore
from verifily_core.testing.study import InMemoryStudyEngine


@hookimpl
def verifily_register_model_backend() -> type[ModelBackend]:
    return ScriptedModelBackend


@hookimpl
def verifily_register_artifact_store() -> type[ArtifactStore]:
    return InMemoryArtifactStore


@hookimpl
def verifily_register_tracker() -> type[Tracker]:
    return RecordingTracker


@hookimpl
def verifily_register_billing_sink() -> type[BillingSink]:
    return RecordingBillingSink


@hookimpl
def verifily_register_study_engine() -> type[StudyEngine]:
    return InMemoryStudyEngine


__all__ = [
    "InMemoryArtifactStore",
    "InMemoryStudyEngine",
    "RecordingBillingSink",
    "RecordingTracker",
    "ScriptedModelBackend",
    "ScriptedPredictor",
]
