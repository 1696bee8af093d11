"""Verifily Train's public Python API: the names the user guide imports.

A thin facade over the core's use cases, wired to the installed plugins by
``verifily_core.bootstrap``. Names load on first use (PEP 562): ``python -m verifily_train --help``
and ``accelerate launch -m verifily_train.cli`` import this package first and must stay light.
``compare`` is the function; the submodule of the same name stays importable as
``from verifily_train.compare import compare, format_comparison``.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Dict

from verifily_core import __version__ as __version__
from verifily_core.lazy import lazy_getattr

# Bound eagerly (it is light) so the name is the function even once the submodule is imported.
from verifily_train.compare import compare as compare
from verifily_train.compare import format_comparison as format_comparison

if TYPE_CHECKING:  # what type checkers and IDEs see; the same names as _EXPORTS (a test keeps them equal)
    from verifily_core.config import TrainConfig as TrainConfig
    from verifily_core.domain.compare import CompareResult as CompareResult
    from verifily_core.domain.evaluation import EvalResult as EvalResult
    from verifily_core.domain.hashchain import ReproduceResult as ReproduceResult
    from verifily_train.api import evaluate as evaluate
    from verifily_train.api import load_run as load_run
    from verifily_train.api import train as train
    from verifily_train.api import verify as verify
    from verifily_train.billing import BillingTracker as BillingTracker
    from verifily_train.tuner import run_tuning as run_tuning

_EXPORTS: Dict[str, str] = {
    "TrainConfig": "verifily_core.config",
    "train": "verifily_train.api",
    "evaluate": "verifily_train.api",
    "verify": "verifily_train.api",
    "load_run": "verifily_train.api",
    "run_tuning": "verifily_train.tuner",
    "BillingTracker": "verifily_train.billing",
    "EvalResult": "verifily_core.domain.evaluation",
    "CompareResult": "verifily_core.domain.compare",
    "ReproduceResult": "verifily_core.domain.hashchain",
}

__all__ = sorted([*_EXPORTS, "__version__", "compare", "format_comparison"])


__getattr__ = lazy_getattr("verifily_train", _EXPORTS, globals())


def __dir__() -> list[str]:
    return __all__
