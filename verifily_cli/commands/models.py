"""``verifily models``: the pretrained models that install offline, and the line to use each."""

from __future__ import annotations

from verifily_cli.errors import guarded
from verifily_cli.options import verbose_option


def models_command(
    verbose: bool = verbose_option(),
) -> None:
    """List the offline models (make install) with the base_model: line for a config."""
    with guarded(verbose):
        from verifily_cli.handlers.models import run_models

        run_models()
