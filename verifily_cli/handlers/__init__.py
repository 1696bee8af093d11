"""Handlers: see docs/architecture.md."""
