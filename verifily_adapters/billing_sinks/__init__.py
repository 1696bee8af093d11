"""Billing sinks: a JSONL file (``VERIFILY_BILLING_LOG``) and a signed webhook (``VERIFILY_BILLING_WEBHOOK``)."""
