"""The attribute use case: leave-one-out training runs per tag value, and the effect of each value.

A study, as data flows: everything is checked first (a test set, the metric, the tag key and its
values in the training data, the slice keys in the test data, the budget, the data and model), then
a study folder ``<output.dir>/attribute_<YYYYMMDD_HHMMSS>_<hex>/`` receives ``attribute_spec.json``
(the frozen study) and, for every ablated value, the filtered training files under
``data/without_<value>/`` (same file names, so ``_source_dataset`` keeps its values and a run's data
hash and ``reproduce`` point at real files). Each run is an ordinary run folder in ``output.dir``,
trained by the train use case, named ``attr_<hex>_full_s<seed>`` or ``attr_<hex>_without_<value>_s<seed>``
and evaluated on the config's test set; ``attribute_results.json`` is rewritten atomically after
each run, so ``resume`` skips the runs that finished. Effects and intervals: ``domain.attribution``.
A leave-one-out run also has less data, so each value gets a same-size control run (its rows count
removed at random from all sources, files under ``data/control_<value>/``); its effect is reported
beside the value's, telling "this source" from "less data" (``--no-control`` skips them).

This module is the use case's public face (the entry points and, re-exported, the settings,
callbacks and report types). The parts live beside it: ``attribute_types`` (the value types),
``attribute_checks`` (everything checked before any run), ``attribute_data`` (the training files and
their ablations) and ``attribute_study`` (training the runs and computing the effects).
"""

from __future__ import annotations

from pathlib import Path
from typing import Optional

from verifily_core.config import TrainConfig
from verifily_core.domain.attribution import ATTRIBUTE_PREFIX, ATTRIBUTE_RESULTS, ATTRIBUTE_SPEC, plan_study
from verifily_core.domain.runs import iso, utc_now
from verifily_core.errors import AttributionError
from verifily_core.ports.artifact_store import ArtifactStore
from verifily_core.services.attribution.checks import check_study
from verifily_core.services.attribution.data import write_ablation_data, write_control_data
from verifily_core.services.attribution.runner import Study
from verifily_core.services.attribution.types import (
    SPEC_VERSION,
    AttributeCallbacks,
    AttributeSettings,
    AttributionReport,
)
from verifily_core.services.training.dependencies import DepsFactory
from verifily_core.services.training.prepare import prepare


def attribute(
    config: TrainConfig,
    settings: AttributeSettings,
    *,
    store: ArtifactStore,
    deps_factory: DepsFactory,
    callbacks: Optional[AttributeCallbacks] = None,
    config_path: Optional[Path] = None,
) -> AttributionReport:
    """Plan, check and run a new study; ``store`` (at ``output.dir``) holds the study folder."""
    where = f" in {config_path}" if config_path else ""
    metric, slice_by, counts = check_study(config, settings, where)
    plan = plan_study(
        counts, seeds=settings.seeds, base_seed=config.seed, budget=settings.budget, controls=settings.control
    )
    prepare(config, deps_factory(config).backend)  # data and model, before the folder exists
    study_id = store.create_run(prefix=ATTRIBUTE_PREFIX).run_id
    data = write_ablation_data(store, study_id, config, settings.by, plan.values)
    removed = {v: counts[v] for v in plan.values}
    controls = write_control_data(store, study_id, config, removed, settings.seed) if plan.controls else {}
    spec = {
        "version": SPEC_VERSION,
        "study_id": study_id,
        "created_at": iso(utc_now()),
        "base_config": config.to_dict(),
        "source_dir": str(config.source_dir or Path.cwd()),
        "config_path": str(Path(config_path).resolve()) if config_path else None,
        "by": settings.by,
        "metric": metric,
        "slice_by": slice_by,
        "n_boot": settings.n_boot,
        "seed": settings.seed,
        "min_slice_n": settings.min_slice_n,
        "budget": settings.budget,
        "requested_seeds": settings.seeds,
        "seeds": plan.seeds,
        "values": plan.values,
        "rows_removed": removed,
        "dropped_values": plan.dropped_values,
        "dropped_seeds": plan.dropped_seeds,
        "data": data,
        "controls": controls,
    }
    store.write_json(study_id, ATTRIBUTE_SPEC, spec)
    return Study(spec, store, deps_factory, callbacks or AttributeCallbacks()).run(previous=None)


def resume(
    study_id: str,
    *,
    store: ArtifactStore,
    deps_factory: DepsFactory,
    callbacks: Optional[AttributeCallbacks] = None,
) -> AttributionReport:
    """Continue a study: runs that finished are kept, the others are trained (again)."""
    if not store.exists(study_id, ATTRIBUTE_SPEC):
        raise AttributionError(
            f"{store.root}/{study_id} is not an attribution study (no {ATTRIBUTE_SPEC}).",
            hint="Pass a folder created by `verifily attribute`, "
            "e.g. --resume runs/attribute_20260208_143022_a1b2c3.",
        )
    spec = store.read_json(study_id, ATTRIBUTE_SPEC)
    if not isinstance(spec, dict) or spec.get("version") != SPEC_VERSION:
        raise AttributionError(f"{store.root}/{study_id}/{ATTRIBUTE_SPEC} is not a spec this version reads.")
    has_results = store.exists(study_id, ATTRIBUTE_RESULTS)
    previous = store.read_json(study_id, ATTRIBUTE_RESULTS) if has_results else None
    return Study(spec, store, deps_factory, callbacks or AttributeCallbacks()).run(previous=previous)


__all__ = [
    "AttributeCallbacks",
    "AttributeSettings",
    "AttributionReport",
    "attribute",
    "resume",
]
