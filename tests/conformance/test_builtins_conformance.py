"""Every built-in adapter and the test fakes pass the same conformance suites third parties run."""

from __future__ import annotations

import socket
from pathlib import Path
from typing import Any, Dict

import pytest

from verifily_adapters.billing_sinks.jsonl import JsonlBillingSink
from verifily_adapters.billing_sinks.webhook import WebhookBillingSink
from verifily_adapters.local_store.store import LocalArtifactStore
from verifily_adapters.tensorboard_tracker.tracker import TensorBoardTracker
from verifily_adapters.wandb_tracker.tracker import WandbTracker
from verifily_core.conformance import (
    ArtifactStoreConformance,
    BillingSinkConformance,
    ModelBackendConformance,
    TrackerConformance,
)
from verifily_core.testing import InMemoryArtifactStore, ScriptedModelBackend


@pytest.fixture(scope="session")
def tiny_llama(tmp_path_factory: pytest.TempPathFactory) -> Path:
    from verifily_adapters.hf_backend.tiny import build_tiny_causal_lm

    return build_tiny_causal_lm(tmp_path_factory.mktemp("tiny-llama"))


@pytest.mark.slow
class TestHFBackend(ModelBackendConformance):
    @pytest.fixture
    def backend_class(self) -> type:
        from verifily_adapters.hf_backend.backend import HFModelBackend

        return HFModelBackend

    @pytest.fixture
    def base_model(self, tiny_llama: Path) -> str:
        return str(tiny_llama)

    @pytest.fixture
    def task(self) -> str:
        return "sft"

    @pytest.fixture
    def config_overrides(self) -> Dict[str, Any]:
        return {
            "training": {
                "num_epochs": 1,
                "batch_size": 8,
                "max_seq_length": 64,
                "logging_steps": 1,
                "save_steps": 1000,
                "warmup_ratio": 0.0,
            },
            "compute": {"device": "cpu", "bf16": False},
        }

    @pytest.fixture
    def hooks_module(self) -> str:
        return "verifily_adapters.hf_backend.hooks"


class TestScriptedFakeBackend(ModelBackendConformance):
    refuses_missing_folders = False

    @pytest.fixture
    def backend_class(self) -> type:
        return ScriptedModelBackend

    @pytest.fixture
    def base_model(self, tmp_path: Path) -> str:
        return "scripted"

    @pytest.fixture
    def hooks_module(self) -> str:
        return "verifily_core.testing"


class TestLocalStore(ArtifactStoreConformance):
    @pytest.fixture
    def store_class(self) -> type:
        return LocalArtifactStore

    @pytest.fixture
    def hooks_module(self) -> str:
        return "verifily_adapters.local_store.hooks"


class TestInMemoryFakeStore(ArtifactStoreConformance):
    @pytest.fixture
    def store_class(self) -> type:
        return InMemoryArtifactStore

    @pytest.fixture
    def hooks_module(self) -> str:
        return "verifily_core.testing"


class TestTensorBoardTracker(TrackerConformance):
    @pytest.fixture
    def tracker_class(self) -> type:
        return TensorBoardTracker

    @pytest.fixture
    def hooks_module(self) -> str:
        return "verifily_adapters.tensorboard_tracker.hooks"


class TestWandbTrackerOffline(TrackerConformance):
    @pytest.fixture
    def tracker_class(self) -> type:
        return WandbTracker

    @pytest.fixture
    def tracker_env(self, tmp_path: Path) -> Dict[str, str]:
        home = tmp_path / "wandb-home"
        return {
            "WANDB_MODE": "offline",
            "WANDB_SILENT": "true",
            "WANDB_DIR": str(home / "dir"),
            "WANDB_CACHE_DIR": str(home / "cache"),
            "WANDB_CONFIG_DIR": str(home / "config"),
            "WANDB_DATA_DIR": str(home / "data"),
        }

    @pytest.fixture
    def hooks_module(self) -> str:
        return "verifily_adapters.wandb_tracker.hooks"


class TestMlflowTrackerLocalStore(TrackerConformance):
    """No server: the default SQLite store in ``mlruns/`` beside the runs folder (tmp_path here)."""

    @pytest.fixture
    def tracker_class(self) -> type:
        pytest.importorskip("mlflow")
        from verifily_adapters.mlflow_tracker.tracker import MlflowTracker

        return MlflowTracker

    @pytest.fixture
    def hooks_module(self) -> str:
        return "verifily_adapters.mlflow_tracker.hooks"


class TestJsonlSink(BillingSinkConformance):
    @pytest.fixture
    def sink_class(self) -> type:
        return JsonlBillingSink

    @pytest.fixture
    def sink_env(self, tmp_path: Path) -> Dict[str, str]:
        return {"VERIFILY_BILLING_LOG": str(tmp_path / "billing.jsonl")}

    @pytest.fixture
    def hooks_module(self) -> str:
        return "verifily_adapters.billing_sinks.hooks"


def _closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class TestWebhookSinkUnreachable(BillingSinkConformance):
    emit_budget_seconds = 10.0

    @pytest.fixture
    def sink_class(self) -> type:
        return WebhookBillingSink

    @pytest.fixture
    def sink_env(self, tmp_path: Path) -> Dict[str, str]:
        return {
            "VERIFILY_BILLING_WEBHOOK": f"http://127.0.0.1:{_closed_port()}/usage",
            "VERIFILY_BILLING_WEBHOOK_RETRY_BUDGET": "0.5",
        }

    @pytest.fixture
    def hooks_module(self) -> str:
        return "verifily_adapters.billing_sinks.hooks"
