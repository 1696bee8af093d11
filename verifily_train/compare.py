"""``from verifily_train.compare import compare, format_comparison`` (the guide's import).

The package also exposes ``compare`` the function (``from verifily_train import compare``): its
``__init__`` imports this module first and then binds the name to the function, so both work.
"""

from __future__ import annotations

from pathlib import Path
from typing import Optional, Sequence, Union

from verifily_core.domain.compare import CompareResult
from verifily_core.domain.compare_format import format_comparison


def compare(
    run_paths: Sequence[Union[str, Path]],
    metric: Optional[str] = None,
    slice_by: Optional[Union[str, Sequence[str]]] = None,
    *,
    runs_dir: Union[str, Path] = "runs",
    bootstrap: Optional[int] = 1000,
    seed: int = 0,
    min_slice_n: int = 30,
) -> CompareResult:
    """Compare ``metric`` across runs (paths or URLs such as ``s3://bucket/runs/run_A``, or run ids
    in ``runs_dir``, itself a folder or a URL); each is read through the store its location opens.

    ``bootstrap`` resamples give a 95% interval of every delta (``result.significance``); 0 or None
    leaves them out. Slices with fewer than ``min_slice_n`` test examples are flagged too small.
    """
    from verifily_core.bootstrap import open_store
    from verifily_core.services.comparison.compare import compare as compare_use_case

    return compare_use_case(
        list(run_paths),
        metric=metric,
        slice_by=slice_by,
        runs_dir=Path(runs_dir),
        store_factory=open_store,
        bootstrap=bootstrap or None,
        seed=seed,
        min_slice_n=min_slice_n,
    )


__all__ = ["CompareResult", "compare", "format_comparison"]
