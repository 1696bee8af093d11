"""What ``verifily models`` does: find each offline model and print the config line that uses it."""

from __future__ import annotations

from verifily_cli.render import out, table


def run_models() -> None:
    """One row per offline model (``make install``): its task and its ``base_model:`` line, or the
    install hint when it is not installed."""
    from verifily_adapters.hf_backend.tiny import minilm_path, smollm2_gguf_path
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
