"""Verifily Train's core: config, data, hash chain, metrics, slices, comparisons and use cases.

Pure Python: no ML or web framework is imported here (import-linter enforces it). The public names
below load on first use (PEP 562), so that importing one submodule — as ``verifily --help`` does
for the error tree — does not pay for pydantic, numpy or the rest.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Dict

from verifily_core.lazy import lazy_getattr

# The distribution's version, written only here: pyproject.toml reads it (``[tool.setuptools.dynamic]``)
# and ``verifily_train.__version__`` and ``verifily --version`` import it.
__version__ = "1.1.0"

if TYPE_CHECKING:  # what type checkers and IDEs see; the same names as _EXPORTS (a test keeps them equal)
    from verifily_core.config import TrainConfig as TrainConfig
    from verifily_core.domain.compare import CompareResult as CompareResult
    from verifily_core.domain.data_mixing import load_multi_jsonl as load_multi_jsonl
    from verifily_core.domain.dataset_version import DatasetVersion as DatasetVersion
    from verifily_core.domain.evaluation import EvalResult as EvalResult
    from verifily_core.domain.examples import ClassificationExample as ClassificationExample
    from verifily_core.domain.examples import SFTExample as SFTExample
    from verifily_core.domain.hashchain import ReproduceResult as ReproduceResult
    from verifily_core.domain.runs import RunRecord as RunRecord
    from verifily_core.domain.training import ClassPrediction as ClassPrediction
    from verifily_core.domain.training import TokenLoss as TokenLoss
    from verifily_core.domain.training import TrainCallbacks as TrainCallbacks
    from verifily_core.domain.training import TrainOutcome as TrainOutcome
    from verifily_core.domain.training import TrainRequest as TrainRequest
    from verifily_core.domain.usage import UsageRecord as UsageRecord
    from verifily_core.errors import AttributionError as AttributionError
    from verifily_core.errors import BackendError as BackendError
    from verifily_core.errors import BillingError as BillingError
    from verifily_core.errors import CompareError as CompareError
    from verifily_core.errors import ConfigError as ConfigError
    from verifily_core.errors import DataError as DataError
    from verifily_core.errors import DependencyMissingError as DependencyMissingError
    from verifily_core.errors import EvaluationError as EvaluationError
    from verifily_core.errors import IntegrityError as IntegrityError
    from verifily_core.errors import PluginError as PluginError
    from verifily_core.errors import RunNotFoundError as RunNotFoundError
    from verifily_core.errors import StoreError as StoreError
    from verifily_core.errors import TrackerError as TrackerError
    from verifily_core.errors import TuneError as TuneError
    from verifily_core.errors import UnknownPluginError as UnknownPluginError
    from verifily_core.errors import UnsafePathError as UnsafePathError
    from verifily_core.errors import VerifilyError as VerifilyError
    from verifily_core.ports import ArtifactStore as ArtifactStore
    from verifily_core.ports import BillingSink as BillingSink
    from verifily_core.ports import ModelBackend as ModelBackend
    from verifily_core.ports import Predictor as Predictor
    from verifily_core.ports import RunLocation as RunLocation
    from verifily_core.ports import Tracker as Tracker
    from verifily_core.services.billing.tracker import BillingTracker as BillingTracker

_EXPORTS: Dict[str, str] = {
    # configuration
    "TrainConfig": "verifily_core.config",
    # errors
    **{
        name: "verifily_core.errors"
        for name in (
            "VerifilyError",
            "ConfigError",
            "DataError",
            "StoreError",
            "RunNotFoundError",
            "UnsafePathError",
            "IntegrityError",
            "BackendError",
            "DependencyMissingError",
            "EvaluationError",
            "CompareError",
            "TuneError",
            "AttributionError",
            "TrackerError",
            "BillingError",
            "PluginError",
            "UnknownPluginError",
        )
    },
    # ports
    **{
        name: "verifily_core.ports"
        for name in ("ModelBackend", "Predictor", "ArtifactStore", "RunLocation", "Tracker", "BillingSink")
    },
    # values the ports speak in
    "SFTExample": "verifily_core.domain.examples",
    "ClassificationExample": "verifily_core.domain.examples",
    "TrainRequest": "verifily_core.domain.training",
    "TrainOutcome": "verifily_core.domain.training",
    "TrainCallbacks": "verifily_core.domain.training",
    "ClassPrediction": "verifily_core.domain.training",
    "TokenLoss": "verifily_core.domain.training",
    "RunRecord": "verifily_core.domain.runs",
    "UsageRecord": "verifily_core.domain.usage",
    # results and data
    "DatasetVersion": "verifily_core.domain.dataset_version",
    "load_multi_jsonl": "verifily_core.domain.data_mixing",
    "EvalResult": "verifily_core.domain.evaluation",
    "CompareResult": "verifily_core.domain.compare",
    "ReproduceResult": "verifily_core.domain.hashchain",
    "BillingTracker": "verifily_core.services.billing.tracker",
}

__all__ = sorted([*_EXPORTS, "__version__"])


__getattr__ = lazy_getattr("verifily_core", _EXPORTS, globals())


def __dir__() -> list[str]:
    return __all__
