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
    """One real ``mlflow server`` for the session (tests/helpers/servers.py), started on first use."""
    pytest.importorskip("mlflow")
    from helpers.servers import MlflowServer

    server = MlflowServer(tmp_path_factory.mktemp("mlflow-server")).start()
    yield server
    server.stop()


@pytest.fixture(scope="session")
def s3_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Any]:
    """One real S3 API server (moto's server mode, tests/helpers/servers.py) for the session, started on
    first use; its endpoint and throwaway credentials are in ``os.environ`` meanwhile, and stores
    stage their files under a temp folder (never the home folder)."""
    pytest.importorskip("moto.server")
    pytest.importorskip("s3fs")
    from helpers.servers import S3Server

    root = tmp_path_factory.mktemp("s3-server")
    server = S3Server(root / "moto.log").start()
    env = {**server.env, "VERIFILY_STORE_CACHE": str(root / "store-cache")}
    saved = {k: os.environ.get(k) for k in (*env, "AWS_PROFILE", "AWS_SESSION_TOKEN")}
    os.environ.update(env)
    for key in ("AWS_PROFILE", "AWS_SESSION_TOKEN"):
        os.environ.pop(key, None)
    yield server
    for key, value in saved.items():
        if value is None:
            os.environ.pop(key, None)
        else:
            os.environ[key] = value
    server.stop()
