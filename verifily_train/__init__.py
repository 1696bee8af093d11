"""Verifily Train's public Python API: the names the user guide imports.

A thin facade over the core's use cases, wired to the installed plugins by
``verifily_core.bootstrap``. Nothing here imports torch until a model is actually trained or
loaded.
"""

from __future__ import annotations

from verifily_core.config import TrainConfig
from verifily_core.domain.compare import CompareResult
from verifily_core.domain.evaluation import EvalResult
from verifily_core.domain.hashchain import ReproduceResult
from verifily_train.api import evaluate, train, verify
from verifily_train.billing import BillingTracker
from verifily_train.compare import compare, format_comparison
from verifily_train.tuner import run_tuning

__version__ = "1.1.0"

__all__ = [
    "BillingTracker",
    "CompareResult",
    "EvalResult",
    "ReproduceResult",
    "TrainConfig",
    "__version__",
    "compare",
    "evaluate",
    "format_comparison",
    "run_tuning",
    "train",
    "verify",
]
