"""``verifily eval-cmd`` (alias ``eval``): evaluate a run, sliced by tags, with hard examples."""

from __future__ import annotations

from pathlib import Path
from typing import Optional

import typer

from verifily_cli.errors import guarded


def split_csv(value: Optional[str]) -> Optional[list[str]]:
    """``"a, b,,c"`` → ``["a", "b", "c"]``; None or empty → None."""
    if not value:
        return None
    items = [v.strip() for v in value.split(",") if v.strip()]
    return items or None


def eval_command(
    run: Path = typer.Option(..., "--run", help="Path to the run folder."),
    test_data: Optional[Path] = typer.Option(
        None, "--test-data", help="Test JSONL (overrides data_paths.test)."
    ),
    metrics: Optional[str] = typer.Option(None, "--metrics", help="Comma-separated metric names."),
    slice_by: Optional[str] = typer.Option(None, "--slice-by", help="Comma-separated tag keys to slice by."),
    hard_examples: Optional[int] = typer.Option(
        None, "--hard-examples", help="Number of worst examples (default: 50)."
    ),
    device: Optional[str] = typer.Option(None, "--device", help="Device for inference (auto/cpu/cuda/mps)."),
    batch_size: Optional[int] = typer.Option(None, "--batch-size", help="Inference batch size."),
    from_predictions: bool = typer.Option(
        False,
        "--from-predictions",
        help="Recompute metrics and slices from eval/predictions.jsonl, no model.",
    ),
    name: Optional[str] = typer.Option(
        None,
        "--name",
        help="Name of this evaluation: results go to eval/NAME/ (default: the test file's name when "
        "--test-data is not the run's own test set; the run's main result in eval/ stays).",
    ),
    json_output: bool = typer.Option(False, "--json", help="Print eval_results as JSON."),
    verbose: bool = typer.Option(False, "--verbose", "-v", help="Enable DEBUG logging and tracebacks."),
) -> None:
    """Evaluate a trained run on a test set."""
    with guarded(verbose):
        from verifily_cli.evaluation import run_evaluation

        run_evaluation(
            run=run,
            test_data=test_data,
            metrics=split_csv(metrics),
            slice_by=split_csv(slice_by),
            hard_examples=hard_examples,
            device=device,
            batch_size=batch_size,
            from_predictions=from_predictions,
            json_output=json_output,
            name=name,
        )
