"""``verifily attribute``: which training data caused what, by leave-one-out runs per tag value."""

from __future__ import annotations

from pathlib import Path
from typing import Optional

import typer

from verifily_cli.errors import guarded
from verifily_cli.options import set_overrides, split_csv, verbose_option


def attribute_command(
    config: Optional[Path] = typer.Option(
        None, "--config", "-c", help="Training YAML config (required unless --resume)."
    ),
    by: str = typer.Option(
        "_source_dataset", "--by", help="Training tag key whose values are left out one at a time."
    ),
    seeds: int = typer.Option(
        1, "--seeds", help="Training seeds per run (seed, seed+1, ...): adds training noise to the intervals."
    ),
    budget: Optional[int] = typer.Option(
        None, "--budget", help="Most runs to train (the plan is cut to fit, and says what it dropped)."
    ),
    metric: Optional[str] = typer.Option(
        None, "--metric", help="Metric of the effects (default: f1 for SFT, macro_f1 for classification)."
    ),
    slice_by: Optional[str] = typer.Option(
        None,
        "--slice-by",
        help="Test tag key(s) for per-slice effects (default: eval.slice_by_tags, else --by).",
    ),
    bootstrap: int = typer.Option(
        1000, "--bootstrap", help="Resamples of the test examples (and seeds) for the 95% intervals."
    ),
    seed: int = typer.Option(0, "--seed", help="Seed of the bootstrap (same seed, same intervals)."),
    min_slice_n: int = typer.Option(
        30, "--min-slice-n", help="Slices with fewer test examples are flagged too small to judge."
    ),
    control: bool = typer.Option(
        True,
        "--control/--no-control",
        show_default=False,
        help="Also train a same-size control per value (as many rows removed at random from all "
        "sources), so that an effect of the value is told apart from an effect of less data. On by default.",
    ),
    epochs: Optional[float] = typer.Option(
        None, "--epochs", help="Override training.num_epochs for every run of the study (cheaper ablations)."
    ),
    override: Optional[list[str]] = typer.Option(
        None,
        "--set",
        metavar="KEY=VALUE",
        help="Set any config key for every run of the study, e.g. --set training.max_seq_length=256. "
        "Repeatable.",
    ),
    resume: Optional[Path] = typer.Option(
        None, "--resume", help="Continue a study folder (runs/attribute_<id>): finished runs are kept."
    ),
    json_output: bool = typer.Option(
        False, "--json", help="Print attribute_results.json instead of the table."
    ),
    verbose: bool = verbose_option(),
) -> None:
    """Measure what each data source (or tag value) causes: train without it, compare on one test set."""
    with guarded(verbose):
        from verifily_cli.handlers.attribute import run_attribute
        from verifily_core.services.attribution.types import AttributeSettings

        settings = AttributeSettings(
            by=by,
            seeds=seeds,
            budget=budget,
            metric=metric,
            slice_by=split_csv(slice_by),
            n_boot=bootstrap,
            seed=seed,
            min_slice_n=min_slice_n,
            control=control,
        )
        overrides = set_overrides(override)
        if epochs is not None:
            overrides["training.num_epochs"] = epochs
        run_attribute(
            config=config, settings=settings, resume=resume, json_output=json_output, overrides=overrides
        )
