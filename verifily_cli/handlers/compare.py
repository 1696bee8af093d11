"""What ``verifily compare-cmd`` does once its flags are parsed."""

from __future__ import annotations

from pathlib import Path
from typing import Optional

from verifily_cli.render import err, out


def run_compare(
    runs: list[str],
    metric: Optional[str],
    slice_by: Optional[list[str]],
    fmt: str,
    output: Optional[Path],
    runs_dir: Path,
    *,
    bootstrap: int = 1000,
    seed: int = 0,
    min_slice_n: int = 30,
    evaluation: Optional[str] = None,
) -> None:
    """Compare and print; ``bootstrap=0`` leaves the intervals out."""
    from verifily_core.bootstrap import open_store
    from verifily_core.domain.compare_format import format_comparison
    from verifily_core.services.comparison.compare import compare

    result = compare(
        runs,
        metric=metric,
        slice_by=slice_by,
        runs_dir=runs_dir,
        store_factory=open_store,
        bootstrap=bootstrap or None,
        seed=seed,
        min_slice_n=min_slice_n,
        evaluation=evaluation,
    )
    text = format_comparison(result, fmt=fmt)
    if output is not None:
        _write(output, text if text.endswith("\n") else text + "\n")
        err.print(f"Wrote {output}")
    else:
        out.print(text, markup=False)


def _write(output: Path, text: str) -> None:
    """``--output``, atomically; a folder or an unwritable place is a user error, not a crash."""
    from verifily_adapters.atomic import atomic_write_text
    from verifily_core.errors import CompareError

    hint = "Give a file path, e.g. --output comparison.md"
    if output.is_dir():
        raise CompareError(f"--output {output} is a folder; it must name a file.", hint=hint)
    try:
        atomic_write_text(output, text)
    except OSError as exc:
        raise CompareError(f"Cannot write --output {output}: {exc.strerror or exc}", hint=hint) from None
