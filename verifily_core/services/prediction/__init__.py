"""Prediction: see docs/architecture.md."""
