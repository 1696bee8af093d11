"""Registers the JSONL and webhook billing sinks; cheap to import (httpx is imported on first POST)."""

from __future__ import annotations

from typing import List

from verifily_core.plugins.hookspecs import hookimpl


@hookimpl
def verifily_register_billing_sink() -> List[type]:
    from verifily_adapters.billing_sinks.jsonl import JsonlBillingSink
    from verifily_adapters.billing_sinks.webhook import WebhookBillingSink

    return [JsonlBillingSink, WebhookBillingSink]
