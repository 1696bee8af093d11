"""Reproduction: see docs/architecture.md."""
