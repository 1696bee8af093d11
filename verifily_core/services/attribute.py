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
"""

from __future__ import annotations

import time
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any, Callable, Dict, List, Mapping, Optional, Sequence

from verifily_core.config import TrainConfig
from verifily_core.domain import metrics, slicing
from verifily_core.domain.attribution import (
    ATTRIBUTE_CSV,
    ATTRIBUTE_PREFIX,
    ATTRIBUTE_RESULTS,
    ATTRIBUTE_SPEC,
    PlannedRun,
    StudyPlan,
    attribution_effects,
    plan_study,
    results_csv,
)
from verifily_core.domain.compare import LOWER_IS_BETTER, default_metric
from verifily_core.domain.data import SOURCE_TAG, load_examples
from verifily_core.domain.examples import Example
from verifily_core.domain.runs import PREDICTIONS, RUN_META, iso, safe_name, utc_now
from verifily_core.domain.significance import CONFIDENCE, DEFAULT_MIN_SLICE_N, DEFAULT_N_BOOT
from verifily_core.domain.training import TrainCallbacks
from verifily_core.errors import AttributionError, StoreError, VerifilyError
from verifily_core.ports.artifact_store import ArtifactStore
from verifily_core.services.evaluate import evaluate_run
from verifily_core.services.prepare import prepare, resolve_data_files
from verifily_core.services.train import TrainDependencies, train

DepsFactory = Callable[[TrainConfig], TrainDependencies]
SPEC_VERSION = 1


@dataclass(frozen=True)
class AttributeSettings:
    """The study's flags: tag key, seeds, budget, metric, slices and the bootstrap."""

    by: str = SOURCE_TAG
    seeds: int = 1
    budget: Optional[int] = None
    metric: Optional[str] = None
    slice_by: Optional[Sequence[str]] = None
    n_boot: int = DEFAULT_N_BOOT
    seed: int = 0
    min_slice_n: int = DEFAULT_MIN_SLICE_N


@dataclass
class AttributeCallbacks:
    """Progress without printing; every callback is optional.

    ``on_plan(results)`` comes before any training; ``on_estimate(seconds_per_run, runs_left)`` after
    the first run this process trained, measured on it.
    """

    on_plan: Optional[Callable[[Mapping[str, Any]], None]] = None
    on_estimate: Optional[Callable[[float, int], None]] = None
    on_run_start: Optional[Callable[[int, int, PlannedRun], None]] = None
    on_run_end: Optional[Callable[[Mapping[str, Any]], None]] = None
    train: Optional[TrainCallbacks] = None


@dataclass
class AttributionReport:
    """What a study returns: its folder and the ``attribute_results.json`` document."""

    study_id: str
    study_dir: str
    results: Dict[str, Any]


# ---------------------------------------------------------------------- checks before any run


def _check(
    config: TrainConfig,
    settings: AttributeSettings,
    where: str,
) -> tuple[str, List[str], Dict[str, int]]:
    """The metric, the slice keys and the rows per tag value; AttributionError saying how to fix."""
    if not config.data_paths.test:
        raise AttributionError(
            f"verifily attribute measures every run on one test set, but data_paths.test is not set{where}.",
            hint="Add 'data_paths.test: <test.jsonl>' to the config.",
        )
    if settings.n_boot < 1 or settings.min_slice_n < 1:
        raise AttributionError(
            "--bootstrap and --min-slice-n must be at least 1, "
            f"got {settings.n_boot} and {settings.min_slice_n}."
        )
    metric = settings.metric or default_metric(config.task)
    spec = metrics.REGISTRY.get(config.task, {}).get(metric)
    if spec is None or not spec.scalar:
        names = metrics.scalar_metrics(config.task, metrics.available_metrics(config.task))
        raise AttributionError(
            f"Unknown metric {metric!r} for task {config.task}.", hint=f"Use one of: {', '.join(names)}."
        )
    if config.eval.metrics and metric not in config.eval.metrics:
        raise AttributionError(
            f"--metric {metric} is not among eval.metrics{where} ({', '.join(config.eval.metrics)}).",
            hint=f"Add {metric} to eval.metrics, or set eval.metrics: null.",
        )
    rows = [e for _path, file_rows in _training_files(config) for e in file_rows]
    tags = [dict(e.tags) for e in rows]
    counts: Dict[str, int] = {}
    for t in tags:
        if t.get(settings.by) is not None:
            value = slicing.slice_value(t[settings.by])
            counts[value] = counts.get(value, 0) + 1
    if len(counts) < 2:
        present = ", ".join(slicing.tag_keys(tags)) or "none"
        found = f"only one value ({next(iter(counts))})" if counts else "no row with that key"
        raise AttributionError(
            f"--by {settings.by}: the training data has {found}; leave-one-out needs two "
            f"or more values. Tag keys in the training data: {present}.",
            hint="Pick a key with several values, or list several files in "
            f"data_paths.train (each file is a value of {SOURCE_TAG}).",
        )
    test = load_examples(config.resolve_path(config.data_paths.test), config.task)
    test_tags = [dict(e.tags) for e in test]
    if settings.slice_by is not None:
        keys = list(settings.slice_by)
    else:
        keys = list(config.eval.slice_by_tags or [])
        keys = keys or ([settings.by] if any(settings.by in t for t in test_tags) else [])
    slicing.check_slice_keys(keys, test_tags)
    return metric, keys, counts


def _training_files(config: TrainConfig) -> List[tuple[str, List[Example]]]:
    """Each training file with its rows, tagged with ``_source_dataset`` as training tags them."""
    files = resolve_data_files(config)["train"]
    return [
        (p, [replace(e, tags={**e.tags, SOURCE_TAG: Path(p).stem}) for e in load_examples(p, config.task)])
        for p in files
    ]


# ---------------------------------------------------------------------- entry points


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
    metric, slice_by, counts = _check(config, settings, where)
    plan = plan_study(counts, seeds=settings.seeds, base_seed=config.seed, budget=settings.budget)
    prepare(config, deps_factory(config).backend)  # data and model, before the folder exists
    study_id = store.create_run(prefix=ATTRIBUTE_PREFIX).run_id
    data = _write_ablation_data(store, study_id, config, settings.by, plan.values)
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
        "rows_removed": {v: counts[v] for v in plan.values},
        "dropped_values": plan.dropped_values,
        "dropped_seeds": plan.dropped_seeds,
        "data": data,
    }
    store.write_json(study_id, ATTRIBUTE_SPEC, spec)
    return _Study(spec, store, deps_factory, callbacks or AttributeCallbacks()).run(previous=None)


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
    return _Study(spec, store, deps_factory, callbacks or AttributeCallbacks()).run(previous=previous)


def _write_ablation_data(
    store: ArtifactStore,
    study_id: str,
    config: TrainConfig,
    by: str,
    values: Sequence[str],
) -> Dict[str, Dict[str, Any]]:
    """Per value, the training files without its rows: a file that loses rows is written to the
    study folder under its own name; an untouched file is used where it is; an emptied file (and
    its weight) is left out."""
    files = _training_files(config)
    weights = config.data_paths.weights
    folders: Dict[str, str] = {}
    data: Dict[str, Dict[str, Any]] = {}
    for value in values:
        folder = f"data/without_{safe_name(value)}"
        folder = folder if folder not in folders.values() else f"{folder}_{len(folders)}"
        folders[value] = folder
        kept_files: List[str] = []
        kept_weights: List[float] = []
        written: set[str] = set()
        for i, (path, rows) in enumerate(files):
            kept = [e for e in rows if e.tags.get(by) is None or slicing.slice_value(e.tags[by]) != value]
            if not kept:
                continue
            if len(kept) < len(rows):
                name = Path(path).name
                rel = f"{folder}/{name}" if name not in written else f"{folder}/{i}/{name}"
                written.add(name)
                path = str(store.write_jsonl(study_id, rel, [_row(e) for e in kept]))
            kept_files.append(path)
            if weights is not None:
                kept_weights.append(weights[i])
        data[value] = {"train": kept_files, "weights": kept_weights if weights is not None else None}
    return data


def _row(example: Example) -> Dict[str, Any]:
    """The row to write: training adds ``_source_dataset`` again, from the file's (same) name."""
    row = example.to_row()
    tags = {k: v for k, v in row.pop("tags", {}).items() if k != SOURCE_TAG}
    return {**row, **({"tags": tags} if tags else {})}


# ---------------------------------------------------------------------- running a study


class _Study:
    """Trains the planned runs that have not finished and computes the effects."""

    def __init__(
        self,
        spec: Mapping[str, Any],
        store: ArtifactStore,
        deps_factory: DepsFactory,
        callbacks: AttributeCallbacks,
    ) -> None:
        self.spec = spec
        self.store = store
        self.deps_factory = deps_factory
        self.callbacks = callbacks
        self.study_id = str(spec["study_id"])
        source = Path(spec["source_dir"]) / ATTRIBUTE_SPEC
        self.base = TrainConfig.from_dict(spec["base_config"], source=source)
        self.plan = StudyPlan(
            list(spec["values"]),
            list(spec["seeds"]),
            list(spec["dropped_values"]),
            list(spec["dropped_seeds"]),
        )
        self.runs_store = deps_factory(self.base).store

    def run(self, *, previous: Optional[Mapping[str, Any]]) -> AttributionReport:
        old = {(r["removed"], r["seed"]): r for r in (previous or {}).get("runs", [])}
        self.records = [self._kept(old.get((p.removed, p.seed)), p) for p in self.plan.runs]
        self._write(None)
        if self.callbacks.on_plan:
            self.callbacks.on_plan(self._doc(None))
        timed = False
        todo = [i for i, r in enumerate(self.records) if r["status"] != "completed"]
        for count, i in enumerate(todo):
            planned = self.plan.runs[i]
            if self.callbacks.on_run_start:
                self.callbacks.on_run_start(count + 1, len(todo), planned)
            self._train(i, planned)
            if self.callbacks.on_run_end:
                self.callbacks.on_run_end(self.records[i])
            if not timed and count + 1 < len(todo) and self.callbacks.on_estimate:
                seconds = float(self.records[i]["duration_seconds"] or 0.0)
                self.callbacks.on_estimate(seconds, len(todo) - count - 1)
            timed = True
        effects = self._effects()
        self._write(effects)
        self.store.write_text(self.study_id, ATTRIBUTE_CSV, results_csv(self._doc(effects)))
        return AttributionReport(self.study_id, str(self.store.local_dir(self.study_id)), self._doc(effects))

    def _name(self, planned: PlannedRun) -> str:
        token = self.study_id.rsplit("_", 1)[-1]
        what = "full" if planned.removed is None else f"without_{planned.removed}"
        return f"attr_{token}_{what}_s{planned.seed}"

    def _kept(self, old: Optional[Mapping[str, Any]], planned: PlannedRun) -> Dict[str, Any]:
        """A previous record when its run finished and still has its predictions; else a fresh one."""
        if old is not None and old.get("status") == "completed" and old.get("run_id"):
            run_id = str(old["run_id"])
            try:
                done = self.runs_store.read_json(run_id, RUN_META).get(
                    "status"
                ) == "completed" and self.runs_store.exists(run_id, PREDICTIONS)
            except StoreError:
                done = False
            if done:
                return dict(old)
        return self._record(planned, "planned")

    def _record(self, planned: PlannedRun, status: str) -> Dict[str, Any]:
        return {
            "removed": planned.removed,
            "seed": planned.seed,
            "name": self._name(planned),
            "status": status,
            "run_id": None,
            "run_path": None,
            "value": None,
            "duration_seconds": None,
            "error": None,
        }

    def _config(self, planned: PlannedRun) -> TrainConfig:
        overrides: Dict[str, Any] = {"seed": planned.seed, "name": self._name(planned)}
        if planned.removed is not None:
            data = self.spec["data"][planned.removed]
            overrides.update({"data_paths.train": data["train"], "data_paths.weights": data["weights"]})
        return self.base.apply_overrides(overrides)

    def _train(self, i: int, planned: PlannedRun) -> None:
        record = self.records[i] = self._record(planned, "running")
        started = time.monotonic()
        try:
            config = self._config(planned)
            deps = self.deps_factory(config)
            run = train(config, deps, callbacks=self.callbacks.train)
            record.update(run_id=run.run_id, run_path=run.artifact_path)
            result = run.eval_result or (deps.evaluate or evaluate_run)(deps.store, run.run_id, deps.backend)
            value = result.overall.get(self.spec["metric"])
            record.update(status="completed", value=value if isinstance(value, (int, float)) else None)
        except KeyboardInterrupt:
            record.update(
                status="interrupted",
                error="interrupted by the user (Ctrl-C)",
                duration_seconds=round(time.monotonic() - started, 3),
            )
            self._write(None)
            raise
        except Exception as exc:  # noqa: BLE001 - one failed run is recorded; the study goes on
            error = str(exc) if isinstance(exc, VerifilyError) else f"{type(exc).__name__}: {exc}"
            record.update(status="failed", error=error)
        record["duration_seconds"] = round(time.monotonic() - started, 3)
        self._write(None)

    def _rows(self, record: Mapping[str, Any]) -> List[Mapping[str, Any]]:
        return list(self.runs_store.iter_jsonl(str(record["run_id"]), PREDICTIONS))

    def _effects(self) -> Dict[str, Any]:
        done = [r for r in self.records if r["status"] == "completed"]
        if not any(r["removed"] is None for r in done):
            failed = next((r for r in self.records if r["error"]), None)
            first = f" {failed['name']}: {failed['error']}" if failed else ""
            raise AttributionError(
                f"No full-data run finished, so no effect can be measured.{first}",
                hint=f"Each run's error is in {self.store.local_dir(self.study_id)}/{ATTRIBUTE_RESULTS}.",
            )
        full = {r["seed"]: self._rows(r) for r in done if r["removed"] is None}
        ablated: Dict[str, Dict[int, List[Mapping[str, Any]]]] = {v: {} for v in self.plan.values}
        for r in done:
            if r["removed"] is not None:
                ablated[r["removed"]][r["seed"]] = self._rows(r)
        spec = self.spec
        return attribution_effects(
            str(self.base.task),
            spec["metric"],
            full,
            ablated,
            spec["slice_by"],
            n_boot=spec["n_boot"],
            seed=spec["seed"],
            min_slice_n=spec["min_slice_n"],
        )

    def _notes(self) -> List[str]:
        notes = []
        metric = self.spec["metric"]
        better = (
            "a positive effect means the rows hurt"
            if metric not in LOWER_IS_BETTER
            else f"lower {metric} is better: a negative effect means the rows hurt"
        )
        notes.append(f"Effect = {metric} without the rows - {metric} with all data; {better}.")
        if self.plan.dropped_values or self.plan.dropped_seeds:
            notes.append(
                f"--budget {self.spec['budget']} dropped the ablations of "
                f"{', '.join(self.plan.dropped_values) or 'no value'} and the seeds "
                f"{', '.join(map(str, self.plan.dropped_seeds)) or 'none'}."
            )
        if len(self.plan.seeds) == 1:
            notes.append(
                "One training seed: intervals cover test-set sampling noise only; "
                "--seeds K adds training noise to them."
            )
        failed = [r["name"] for r in self.records if r["status"] in ("failed", "interrupted")]
        if failed:
            notes.append(f"Runs that did not finish (left out of the effects): {', '.join(failed)}.")
        return notes

    def _doc(self, effects: Optional[Mapping[str, Any]]) -> Dict[str, Any]:
        spec = self.spec
        keys = (
            "by",
            "metric",
            "slice_by",
            "n_boot",
            "seed",
            "min_slice_n",
            "budget",
            "seeds",
            "values",
            "rows_removed",
            "dropped_values",
            "dropped_seeds",
        )
        return {
            "study_id": self.study_id,
            "study_dir": str(self.store.local_dir(self.study_id)),
            "task": self.base.task,
            **{k: spec[k] for k in keys},
            "confidence": CONFIDENCE,
            "lower_is_better": spec["metric"] in LOWER_IS_BETTER,
            "num_runs": len(self.records),
            "runs": self.records,
            "baseline": (effects or {}).get("baseline"),
            "effects": (effects or {}).get("effects"),
            "finished": effects is not None,
            "notes": self._notes(),
        }

    def _write(self, effects: Optional[Mapping[str, Any]]) -> None:
        self.store.write_json(self.study_id, ATTRIBUTE_RESULTS, self._doc(effects))


__all__ = [
    "AttributeCallbacks",
    "AttributeSettings",
    "AttributionReport",
    "DepsFactory",
    "attribute",
    "resume",
]
