"""The ``hf`` model backend (Transformers + PEFT). Import-light: nothing here imports torch."""

from verifily_adapters.hf_backend.backend import HFModelBackend

__all__ = ["HFModelBackend"]
