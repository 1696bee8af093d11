"""Test-wide settings: nothing may reach the network, nothing may write to the home folder."""

from __future__ import annotations

import os
from typing import Any, Iterator

import pytest

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
os.environ.setdefault("HF_DATASETS_OFFLINE", "1")
os.environ.setdefault("WANDB_MODE", "offline")
os.environ.setdefault("WANDB_SILENT", "true")
os.environ.setdefault("GRADIO_ANALYTICS_ENABLED", "False")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
os.environ.setdefault("TRANSFORMERS_VERBOSITY", "error")
os.environ.setdefault("HF_HUB_DISABLE_PROGRESS_BARS", "1")
for var in (
    "VERIFILY_BILLING_WEBHOOK",
    "VERIFILY_BILLING_LOG",
    "VERIFILY_BILLING_WEBHOOK_SECRET",
    "VERIFILY_DISABLE_PLUGINS",
    "MLFLOW_TRACKING_URI",
):
    os.environ.pop(var, None)


@pytest.fixture(scope="session")
def mlflow_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Any]:
    """One real ``mlflow server`` for the session (tests/mlflow_server.py), started on first use."""
    pytest.importorskip("mlflow")
    from mlflow_server import Server

    server = Server(tmp_path_factory.mktemp("mlflow-server")).start()
    yield server
    server.stop()
