"""Billing sinks: a JSONL file (``VERIFILY_BILLING_LOG``), a signed webhook (``VERIFILY_BILLING_WEBHOOK``)
and the webhook's outbox flush."""
