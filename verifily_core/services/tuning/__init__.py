"""Tuning: see docs/architecture.md."""
