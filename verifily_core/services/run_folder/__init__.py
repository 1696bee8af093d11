"""Run folder: see docs/architecture.md."""
