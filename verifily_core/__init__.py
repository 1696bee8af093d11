"""Verifily Train's core: config, data, hash chain, metrics, slices, comparisons and use cases.

Pure Python: no ML or web framework is imported here (import-linter enforces it). The public names
below load on first use (PEP 562), so that importing one submodule — as ``verifily --help`` does
for the error tree — does not pay for pydantic, numpy or the rest.
"""

from __future__ import annotations

from typing import Dict

from verifily_core.lazy import lazy_getattr

__version__ = "1.1.0"

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
