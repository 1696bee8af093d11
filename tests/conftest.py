"""Test-wide settings: nothing may reach the network, nothing may write to the home folder."""

from __future__ import annotations

import os

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
):
    os.environ.pop(var, None)
