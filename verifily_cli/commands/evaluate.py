"""``verifily eval-cmd`` (alias ``eval``): evaluate a run, sliced by tags, with hard examples."""

from __future__ import annotations

from pathlib import Path
from typing import List, Optional

import typer

from verifily_cli.errors import guarded
from verifily_cli.options import split_csv, verbose_option


def require_run(run: Optional[Path]) -> Path:
    """``--run`` is required unless ``--base-model`` asks for a baseline."""
    from verifily_core.errors import ConfigError

    if run is None:
        raise ConfigError(
            "eval-cmd needs --run RUN_FOLDER (a trained run) or --base-model MODEL (a baseline).",
            hint="verifily eval-cmd --run runs/run_... | --base-model MODEL --task sft --test-data FILE",
        )
    return run


def eval_command(
    run: Optional[Path] = typer.Option(None, "--run", help="Path to the run folder."),
    test_data: Optional[List[str]] = typer.Option(
        None,
        "--test-data",
        help="Test JSONL (overrides data_paths.test). Several files: repeat the option or separate them "
        "with commas; each row is then tagged with its file's name as _source_dataset.",
    ),
    base_model: Optional[str] = typer.Option(
        None,
        "--base-model",
        help="Evaluate this model as it is (path, .gguf file or hub id) into a new baseline run folder "
        "instead of a trained run; needs --test-data.",
    ),
    task: str = typer.Option("sft", "--task", help="Task of a --base-model baseline (sft)."),
    config: Optional[Path] = typer.Option(
        None,
        "--config",
        help="With --base-model: take prompt format, sequence length and eval settings from this "
        "training config, so that the baseline compares like for like.",
    ),
    output_dir: Path = typer.Option(
        Path("runs"), "--output-dir", help="With --base-model: where the baseline run folder is created."
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
    verbose: bool = verbose_option(),
) -> None:
    """Evaluate a trained run on a test set."""
    with guarded(verbose):
        from verifily_cli.handlers.evaluate import run_evaluate

        files = split_csv(",".join(test_data)) if test_data else None
        if base_model is not None:
            from verifily_cli.handlers.evaluate import run_evaluate_baseline

            run_evaluate_baseline(
                base_model=base_model,
                task=task,
                test_data=files,
                config=config,
                output_dir=output_dir,
                json_output=json_output,
            )
            return
        run_evaluate(
            run=require_run(run),
            test_data=files,
            metrics=split_csv(metrics),
            slice_by=split_csv(slice_by),
            hard_examples=hard_examples,
            device=device,
            batch_size=batch_size,
            from_predictions=from_predictions,
            json_output=json_output,
            name=name,
        )
