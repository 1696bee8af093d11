"""Attribution: see docs/architecture.md."""
