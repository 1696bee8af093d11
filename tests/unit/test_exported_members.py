"""The public names are a promise: pinned here so that removing or renaming one is a decision."""

from __future__ import annotations

import subprocess
import sys

import verifily_core
import verifily_train

CORE = {
    "__version__",
    "TrainConfig",
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
    "ModelBackend",
    "Predictor",
    "ArtifactStore",
    "RunLocation",
    "Tracker",
    "BillingSink",
    "SFTExample",
    "ClassificationExample",
    "TrainRequest",
    "TrainOutcome",
    "TrainCallbacks",
    "ClassPrediction",
    "TokenLoss",
    "RunRecord",
    "UsageRecord",
    "DatasetVersion",
    "load_multi_jsonl",
    "EvalResult",
    "CompareResult",
    "ReproduceResult",
    "BillingTracker",
}
FACADE = {  # the user guide's section 6, plus the version and format_comparison
    "TrainConfig",
    "train",
    "evaluate",
    "compare",
    "verify",
    "EvalResult",
    "CompareResult",
    "ReproduceResult",
    "BillingTracker",
    "run_tuning",
    "load_run",
    "format_comparison",
    "__version__",
}


def test_core_exports_are_pinned_and_resolve() -> None:
    assert set(verifily_core.__all__) == CORE
    for name in CORE:
        assert getattr(verifily_core, name) is not None, name


def test_facade_exports_are_pinned_and_resolve() -> None:
    assert set(verifily_train.__all__) == FACADE
    for name in FACADE:
        assert getattr(verifily_train, name) is not None, name
    assert callable(verifily_train.compare)  # the function, not the submodule of the same name


def test_guide_submodule_imports() -> None:
    from verifily_train.billing import BillingTracker
    from verifily_train.compare import compare, format_comparison
    from verifily_train.dataset import DatasetVersion, load_multi_jsonl
    from verifily_train.tuner import run_tuning

    assert all(callable(x) for x in (compare, format_comparison, load_multi_jsonl, run_tuning))
    assert BillingTracker is verifily_train.BillingTracker and DatasetVersion.from_local_paths


def test_importing_the_error_tree_loads_no_config_machinery() -> None:
    code = "import sys, verifily_core.errors; print('pydantic' in sys.modules, 'numpy' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.split() == ["False", "False"]
