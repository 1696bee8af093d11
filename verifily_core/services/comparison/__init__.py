"""Comparison: see docs/architecture.md."""
