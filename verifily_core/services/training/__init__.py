"""Training: see docs/architecture.md."""
