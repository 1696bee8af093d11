"""Registers the ``hf`` model backend; cheap to import (the backend imports torch lazily)."""

from verifily_core.plugins.hookspecs import hookimpl


@hookimpl
def verifily_register_model_backend() -> type:
    from verifily_adapters.hf_backend.backend import HFModelBackend

    return HFModelBackend
