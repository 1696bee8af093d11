"""Billing: see docs/architecture.md."""
