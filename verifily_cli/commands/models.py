"""``verifily models``: the pretrained models that install offline, and the line to use each."""

from __future__ import annotations

import typer

from verifily_cli.errors import guarded


def models_command(
    verbose: bool = typer.Option(False, "--verbose", "-v", help="Enable DEBUG logging and tracebacks."),
) -> None:
    """List the offline models (make install) with the base_model: line for a config."""
    with guarded(verbose):
        from verifily_adapters.hf_backend.tiny import minilm_path, smollm2_gguf_path
        from verifily_cli.render import out, table
        from verifily_core.errors import DependencyMissingError

        rows = []
        for name, task, locate in (
            ("all-MiniLM-L6-v2 (encoder, 22M)", "classification", minilm_path),
            ("SmolLM2-135M-Instruct (GGUF, causal LM with chat template, 135M)", "sft", smollm2_gguf_path),
        ):
            try:
                rows.append([name, task, f"base_model: {locate()}"])
            except DependencyMissingError as exc:
                rows.append([name, task, f"not installed: {exc.hint}"])
        out.print(table("Offline models (docs/models.md)", ["model", "task", "config line"], rows))
