"""``from verifily_train.compare import compare, format_comparison`` (the guide's import).

The package also exposes ``compare`` the function (``from verifily_train import compare``); the
package's ``__init__`` re-binds the name after importing this module, so both imports work.
"""

from __future__ import annotations

from pathlib import Path
from typing import Optional, Sequence, Union

from verifily_core.domain.compare import CompareResult, format_comparison


def compare(
    run_paths: Sequence[Union[str, Path]],
    metric: Optional[str] = None,
    slice_by: Optional[Union[str, Sequence[str]]] = None,
    *,
    runs_dir: Union[str, Path] = "runs",
) -> CompareResult:
    """Compare ``metric`` across runs (paths, or run ids in ``runs_dir``)."""
    from verifily_adapters.local_store.store import LocalArtifactStore
    from verifily_core.services.compare import compare as compare_use_case

    return compare_use_case(list(run_paths), metric=metric, slice_by=slice_by, runs_dir=Path(runs_dir),
                            store_factory=LocalArtifactStore)


__all__ = ["CompareResult", "compare", "format_comparison"]
