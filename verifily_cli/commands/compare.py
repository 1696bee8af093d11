"""``verifily compare-cmd`` (alias ``compare``): a metric across runs, with slices and config diff."""

from __future__ import annotations

from enum import Enum
from pathlib import Path
from typing import Optional

import typer

from verifily_cli.errors import guarded
from verifily_cli.options import split_csv, verbose_option


class Format(str, Enum):
    table = "table"
    json = "json"
    csv = "csv"


def compare_command(
    runs: str = typer.Option(..., "--runs", help="Comma-separated run paths (or run ids in --runs-dir)."),
    metric: Optional[str] = typer.Option(
        None, "--metric", help="Metric to compare (default: f1 for SFT, macro_f1 for classification)."
    ),
    slice_by: Optional[str] = typer.Option(None, "--slice-by", help="Tag key(s) for a slice breakdown."),
    fmt: Format = typer.Option(Format.table, "--format", help="Output format (table: the guide's layout)."),
    output: Optional[Path] = typer.Option(None, "--output", help="Write to this file instead of stdout."),
    runs_dir: Path = typer.Option(
        Path("runs"), "--runs-dir", help="Where run ids given in --runs are looked up."
    ),
    bootstrap: int = typer.Option(
        1000, "--bootstrap", help="Resamples for the 95% interval of every delta (0: no intervals)."
    ),
    seed: int = typer.Option(0, "--seed", help="Seed of the bootstrap (same seed, same intervals)."),
    min_slice_n: int = typer.Option(
        30, "--min-slice-n", help="Slices with fewer test examples are flagged too small to judge."
    ),
    evaluation: Optional[str] = typer.Option(
        None,
        "--eval",
        help="Which evaluation of the runs to compare: a name given to eval-cmd (eval/NAME/). "
        "Default: each run's main evaluation (eval/).",
    ),
    verbose: bool = verbose_option(),
) -> None:
    """Compare a metric across runs, per slice, with intervals on every delta and the config differences."""
    with guarded(verbose):
        from verifily_cli.handlers.compare import run_compare

        run_compare(
            split_csv(runs) or [],
            metric,
            split_csv(slice_by),
            fmt.value,
            output,
            runs_dir,
            bootstrap=bootstrap,
            seed=seed,
            min_slice_n=min_slice_n,
            evaluation=evaluation,
        )
