"""``verifily predict`` and ``verifily export``: use a trained run's model outside evaluation."""

from __future__ import annotations

from pathlib import Path
from typing import Optional

import typer

from verifily_cli.errors import guarded
from verifily_cli.options import verbose_option


def predict_command(
    run: Path = typer.Option(..., "--run", help="Path to the run folder."),
    input_file: Path = typer.Option(
        ...,
        "--input",
        help="JSONL rows to answer: instruction/input or messages (sft), text (classification).",
    ),
    output: Optional[Path] = typer.Option(
        None, "--output", help="Write the rows with their predictions here (JSONL) instead of stdout."
    ),
    batch_size: Optional[int] = typer.Option(
        None, "--batch-size", help="Rows per batch (default: eval.batch_size)."
    ),
    device: Optional[str] = typer.Option(None, "--device", help="Device for inference (auto/cpu/cuda/mps)."),
    verbose: bool = verbose_option(),
) -> None:
    """Answer new rows with a trained run's model, rendered and decoded exactly as in evaluation."""
    with guarded(verbose):
        from verifily_cli.handlers.predict import run_predict

        run_predict(run=run, input_file=input_file, output=output, batch_size=batch_size, device=device)


def export_command(
    run: Path = typer.Option(..., "--run", help="Path to the run folder."),
    merged: Path = typer.Option(
        ...,
        "--merged",
        help="New folder for the full model (adapter merged into the base) and its tokenizer.",
    ),
    verbose: bool = verbose_option(),
) -> None:
    """Write a run's model as one folder that plain transformers loads (from_pretrained)."""
    with guarded(verbose):
        from verifily_cli.handlers.predict import run_export

        run_export(run=run, merged=merged)
