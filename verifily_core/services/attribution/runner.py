"""Running an attribution study: train the planned runs that have not finished, then the effects.

Each run is an ordinary run folder in ``output.dir``, trained by the train use case, named
``attr_<hex>_full_s<seed>`` or ``attr_<hex>_without_<value>_s<seed>`` and evaluated on the config's
test set. ``attribute_results.json`` is rewritten atomically after each run, so that a study
interrupted at any point can be resumed: runs that finished (and still have their predictions) are
kept, the others are trained again. One failed run is recorded and the study goes on, since the
effects of the other values are still worth hours of training.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any, Dict, List, Mapping, Optional

from verifily_core.config import TrainConfig
from verifily_core.domain.attribution import (
    ATTRIBUTE_CSV,
    ATTRIBUTE_RESULTS,
    ATTRIBUTE_SPEC,
    PlannedRun,
    StudyPlan,
    attribution_effects,
    controlled_value,
    results_csv,
)
from verifily_core.domain.metric_choice import lower_is_better
from verifily_core.domain.runs import PREDICTIONS, RUN_META
from verifily_core.domain.significance import CONFIDENCE
from verifily_core.errors import AttributionError, StoreError, VerifilyError
from verifily_core.ports.artifact_store import ArtifactStore
from verifily_core.services.attribution.types import AttributeCallbacks, AttributionReport
from verifily_core.services.evaluation.evaluate import evaluate_run
from verifily_core.services.training.dependencies import DepsFactory
from verifily_core.services.training.train import train


class Study:
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
            bool(spec.get("controls")),  # studies made before controls existed have none
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
        value = controlled_value(planned.removed)
        what = (
            "full"
            if planned.removed is None
            else f"control_{value}"
            if value is not None
            else f"without_{planned.removed}"
        )
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
        value = controlled_value(planned.removed)
        if value is not None:
            data = self.spec["controls"][value]
            overrides.update({"data_paths.train": data["train"], "data_paths.weights": data["weights"]})
        elif planned.removed is not None:
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
        for kind in ("full-data", "ablation"):  # a control alone measures no value's effect
            if not any(_kind(r) == kind for r in done):
                raise self._unmeasurable(kind, [r for r in self.records if _kind(r) == kind])
        full = {r["seed"]: self._rows(r) for r in done if r["removed"] is None}
        ablated: Dict[str, Dict[int, List[Mapping[str, Any]]]] = {
            str(p.removed): {} for p in self.plan.runs if p.removed is not None
        }
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

    def _unmeasurable(self, what: str, runs: List[Dict[str, Any]]) -> AttributionError:
        """No effect without a finished run on each side: the error names the first failure."""
        failed = next((r for r in runs if r["error"]), None)
        first = f" {failed['name']}: {failed['error']}" if failed else ""
        return AttributionError(
            f"No {what} run finished, so no effect can be measured.{first}",
            hint=f"Each run's error is in {self.store.local_dir(self.study_id)}/{ATTRIBUTE_RESULTS}.",
        )

    def _notes(self) -> List[str]:
        notes = []
        metric = self.spec["metric"]
        better = (
            "a positive effect means the rows hurt"
            if not lower_is_better(metric)
            else f"lower {metric} is better: a negative effect means the rows hurt"
        )
        notes.append(f"Effect = {metric} without the rows - {metric} with all data; {better}.")
        if self.plan.dropped_values or self.plan.dropped_seeds:
            notes.append(
                f"--budget {self.spec['budget']} dropped the ablations of "
                f"{', '.join(self.plan.dropped_values) or 'no value'} and the seeds "
                f"{', '.join(map(str, self.plan.dropped_seeds)) or 'none'}."
            )
        if self.plan.controls:
            notes.append(
                "Control = the same number of rows removed at random from all sources: the effect of "
                "less data alone. An effect well beyond its control's is the value's own."
            )
        else:
            notes.append(
                "No same-size controls (--no-control): an effect may be that of less data, not of the value."
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
            "lower_is_better": lower_is_better(spec["metric"]),
            "num_runs": len(self.records),
            "runs": self.records,
            "baseline": (effects or {}).get("baseline"),
            "effects": (effects or {}).get("effects"),
            "finished": effects is not None,
            "notes": self._notes(),
        }

    def _write(self, effects: Optional[Mapping[str, Any]]) -> None:
        self.store.write_json(self.study_id, ATTRIBUTE_RESULTS, self._doc(effects))


def _kind(record: Mapping[str, Any]) -> str:
    """``full-data``, ``ablation`` (without one value) or ``control`` (as many rows, at random)."""
    removed = record["removed"]
    if removed is None:
        return "full-data"
    return "control" if controlled_value(removed) is not None else "ablation"


__all__ = ["Study"]
