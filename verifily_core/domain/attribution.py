"""Attribution by leave-one-out ablation: the study plan, effects with intervals, the results CSV.

Why ablations: a slice metric shows where a model is good, not which training data made it so. A
study trains the full-data run and, for every value of a training tag (``_source_dataset`` or any
other), one run without that value's rows; the *effect* of a value is ``metric(without it) -
metric(full)`` on the same test set, overall and per test slice. A negative effect means the rows
helped (the metric drops without them); a positive one means they hurt.

Two kinds of noise blur an effect, and the 95% interval covers both. The test set is a sample:
each resample draws test examples with replacement, the *same* draw for every run (all runs answer
the same examples, so the bootstrap is paired). Training is random: with ``K`` seeds (the full and
each ablated run trained once per seed), each resample also draws ``K`` seeds with replacement and
averages their per-seed effects; with one seed this is the paired bootstrap of ``significance``.
Every cell draws from its own generator seeded by the study seed and its names: deterministic.
"""

from __future__ import annotations

import csv
import io
import json
from dataclasses import dataclass
from typing import Any, Dict, List, Mapping, Optional, Sequence, Tuple

import numpy as np

from verifily_core.domain import slicing
from verifily_core.domain.significance import CONFIDENCE, Rows, Stat, aligned, members, rng_for, statistic
from verifily_core.errors import AttributionError

ATTRIBUTE_PREFIX = "attribute"
ATTRIBUTE_SPEC = "attribute_spec.json"
ATTRIBUTE_RESULTS = "attribute_results.json"
ATTRIBUTE_CSV = "attribute_results.csv"
ATTRIBUTE_HEATMAP = "attribute_heatmap.png"
CSV_COLUMNS = (
    "removed",
    "slice_key",
    "slice_value",
    "n",
    "metric",
    "baseline",
    "effect",
    "ci_low",
    "ci_high",
    "significant",
    "too_small",
    "seeds",
)
_CHUNK = 64  # resamples drawn at once: bounds memory at 64 x n indices
# A value's same-size control run removes as many rows as the value has, at random from all sources:
# "less data" alone. Its key in a plan and in the runs' records is CONTROL + value.
CONTROL = "control:"


def control_key(value: str) -> str:
    return CONTROL + value


def controlled_value(removed: Optional[str]) -> Optional[str]:
    """The value a control run stands beside (None for the full run and the ablations)."""
    return removed[len(CONTROL) :] if removed is not None and removed.startswith(CONTROL) else None


@dataclass(frozen=True)
class PlannedRun:
    """One training run of a study: the full data (``removed`` None) or the data without a value."""

    removed: Optional[str]
    seed: int

    @property
    def label(self) -> str:
        if self.removed is None:
            return "full data"
        value = controlled_value(self.removed)
        if value is not None:
            return f"same-size control for {value} (as many random rows removed)"
        return f"without {self.removed}"


@dataclass(frozen=True)
class StudyPlan:
    """The values ablated and the training seeds, after ``--budget``; what was dropped and why."""

    values: List[str]
    seeds: List[int]
    dropped_values: List[str]
    dropped_seeds: List[int]
    controls: bool = False

    @property
    def runs(self) -> List[PlannedRun]:
        """Per seed, the full run first, then one run per value, then (with ``controls``) one
        same-size control per value: the first run times the others."""
        controls = [control_key(v) for v in self.values] if self.controls else []
        return [
            PlannedRun(removed, seed) for seed in self.seeds for removed in [None, *self.values, *controls]
        ]


def plan_study(
    value_rows: Mapping[str, int],
    *,
    seeds: int,
    base_seed: int,
    budget: Optional[int],
    controls: bool = False,
) -> StudyPlan:
    """Values ordered by rows (most first, then by name); within ``budget`` runs, seeds are cut before
    values (covering every value matters more than repeats), then the values with fewest rows go.
    With ``controls`` each value costs two runs per seed (its ablation and its same-size control)."""
    if seeds < 1:
        raise AttributionError(f"--seeds must be at least 1, got {seeds}.")
    per_value = 2 if controls else 1
    values = sorted(value_rows, key=lambda v: (-value_rows[v], v))
    all_seeds = [base_seed + k for k in range(seeds)]
    if budget is None or budget >= (1 + per_value * len(values)) * seeds:
        return StudyPlan(values, all_seeds, [], [], controls)
    if budget < 1 + per_value:
        what = "one ablation and its same-size control" if controls else "one ablation"
        raise AttributionError(
            f"--budget {budget} cannot fit a study: it needs at least {1 + per_value} runs (the full-data "
            f"run and {what}); the whole plan takes {(1 + per_value * len(values)) * seeds}.",
            hint="Raise --budget, or leave it out to run the whole plan"
            + (" (--no-control halves the ablation runs)." if controls else "."),
        )
    n_seeds = min(seeds, max(1, budget // (1 + per_value * len(values))))
    n_values = min(len(values), (budget // n_seeds - 1) // per_value)
    return StudyPlan(values[:n_values], all_seeds[:n_seeds], values[n_values:], all_seeds[n_seeds:], controls)


# ---------------------------------------------------------------------- effects


def effect_interval(
    full: Sequence[Stat],
    ablated: Sequence[Stat],
    positions: Sequence[int],
    *,
    n_boot: int,
    rng: np.random.Generator,
) -> Tuple[float, float]:
    """The central 95% interval of the seed-averaged effect over resamples of examples and seeds.

    ``full[k]`` and ``ablated[k]`` are the metric of seed ``k``'s runs over rows aligned position by
    position, so one draw of positions serves every run.
    """
    pos, k = np.asarray(positions), len(full)
    effects: List[np.ndarray] = []
    for start in range(0, n_boot, _CHUNK):
        boots = min(_CHUNK, n_boot - start)
        idx = pos[rng.integers(0, len(pos), size=(boots, len(pos)))]
        per_seed = np.stack([a(idx) - f(idx) for f, a in zip(full, ablated)], axis=1)  # boots x k
        weights = rng.multinomial(k, [1.0 / k] * k, size=boots) if k > 1 else np.ones((boots, 1))
        effects.append((per_seed * weights).sum(axis=1) / k)
    tail = (1 - CONFIDENCE) / 2 * 100
    low, high = np.percentile(np.concatenate(effects), [tail, 100 - tail])
    return float(low), float(high)


def _value(stat: Stat, positions: Sequence[int]) -> float:
    return float(stat(np.asarray(positions)[None, :])[0])


def _cell(
    full: Sequence[Stat],
    ablated: Sequence[Stat],
    positions: Sequence[int],
    *,
    sliced: bool,
    n_boot: int,
    min_slice_n: int,
    rng: np.random.Generator,
) -> Dict[str, Any]:
    per_seed = [_value(a, positions) - _value(f, positions) for f, a in zip(full, ablated)]
    low, high = effect_interval(full, ablated, positions, n_boot=n_boot, rng=rng)
    too_small = sliced and len(positions) < min_slice_n
    return {
        "effect": round(float(np.mean(per_seed)), 10),
        "low": low,
        "high": high,
        "n": len(positions),
        "seed_effects": [round(e, 10) for e in per_seed],
        "significant": None if too_small else bool(low > 0 or high < 0),
        "too_small": too_small,
    }


def _stat(rows: Rows, task: str, metric: str, what: str) -> Stat:
    stat = statistic(rows, task, metric)
    if stat is None:
        raise AttributionError(
            f"The predictions of {what} lack the per-example data that {metric!r} needs.",
            hint="Use a scalar metric that evaluation computes per example, e.g. accuracy, macro_f1, f1 "
            "or exact_match.",
        )
    return stat


def attribution_effects(
    task: str,
    metric: str,
    full: Mapping[int, Rows],
    ablated: Mapping[str, Mapping[int, Rows]],
    slice_by: Sequence[str],
    *,
    n_boot: int,
    seed: int,
    min_slice_n: int,
) -> Dict[str, Any]:
    """Baseline and effects of a study from the runs' ``eval/predictions.jsonl`` rows.

    ``full[seed]`` and ``ablated[value][seed]`` hold the rows of the finished runs; a value is judged
    on the seeds where both its run and the full run finished. Returns ``{"baseline": {"overall",
    "slices": {key: {value: {"value", "n"}}}}, "effects": [{"removed", "seeds", "overall": cell,
    "slices": {key: {value: cell}}}]}``; a cell is ``{"effect", "low", "high", "n", "seed_effects",
    "significant", "too_small"}``, or None for a value with no finished pair of runs. The rows of a
    same-size control are given as ``ablated[control_key(value)]``; its cells come back beside the
    value's as ``"control": {"seeds", "overall", "slices"}``.
    """
    if not full:
        raise AttributionError("No full-data run finished: there is no baseline to measure effects against.")
    if n_boot < 1:
        raise AttributionError(f"--bootstrap must be a positive number of resamples, got {n_boot}.")
    reference = full[min(full)]

    def stat(rows: Rows, what: str) -> Stat:
        ordered = aligned(reference, rows)
        if ordered is None:
            raise AttributionError(
                f"{what} was evaluated on other test examples than the full-data run; "
                "a study compares runs on one test set."
            )
        return _stat(ordered, task, metric, what)

    full_stats = {s: stat(rows, f"the full-data run (seed {s})") for s, rows in full.items()}
    groups = {
        key: sorted({slicing.slice_value((r.get("tags") or {}).get(key)) for r in reference})
        for key in slice_by
    }
    positions = {(key, v): members(reference, key, v) for key, values in groups.items() for v in values}
    everything = members(reference, None, None)

    def mean_of(where: Sequence[int]) -> float:
        return float(np.mean([_value(stat, where) for stat in full_stats.values()]))

    baseline = {
        "overall": mean_of(everything),
        "slices": {
            key: {v: {"value": mean_of(positions[key, v]), "n": len(positions[key, v])} for v in values}
            for key, values in groups.items()
        },
    }
    effects = []
    for value, by_seed in ablated.items():
        used = [s for s in sorted(by_seed) if s in full_stats]
        entry: Dict[str, Any] = {
            "removed": value,
            "seeds": used,
            "overall": None,
            "slices": {key: {v: None for v in values} for key, values in groups.items()},
        }
        if used:
            f = [full_stats[s] for s in used]
            a = [stat(by_seed[s], f"the run without {value} (seed {s})") for s in used]
            common = {"n_boot": n_boot, "min_slice_n": min_slice_n}
            entry["overall"] = _cell(f, a, everything, sliced=False, rng=rng_for(seed, value), **common)
            for key, values in groups.items():
                for v in values:
                    entry["slices"][key][v] = _cell(
                        f, a, positions[key, v], sliced=True, rng=rng_for(seed, value, key, v), **common
                    )
        effects.append(entry)
    return {"baseline": baseline, "effects": _controls_beside(effects)}


def _controls_beside(effects: List[Dict[str, Any]]) -> List[Dict[str, Any]]:
    """Each same-size control's cells moved beside its value's effect (``entry["control"]``)."""
    by_value = {e["removed"]: e for e in effects if controlled_value(e["removed"]) is None}
    for e in effects:
        value = controlled_value(e["removed"])
        if value is not None and value in by_value:
            by_value[value]["control"] = {"seeds": e["seeds"], "overall": e["overall"], "slices": e["slices"]}
    return list(by_value.values())


# ---------------------------------------------------------------------- rendering


def results_csv(results: Mapping[str, Any]) -> str:
    """One row per (removed value, slice): overall rows leave the slice columns empty."""
    buf = io.StringIO()
    writer = csv.writer(buf, lineterminator="\n")
    writer.writerow(CSV_COLUMNS)
    baseline, metric = results.get("baseline") or {}, results.get("metric")

    def row(
        value: str,
        key: str,
        slice_value: str,
        base: Any,
        cell: Optional[Mapping[str, Any]],
        seeds: Sequence[int],
    ) -> List[Any]:
        c = cell or {}
        shown = [c.get(f) for f in ("n", "effect", "low", "high", "significant", "too_small")]
        n, effect, low, high, significant, too_small = ("" if v is None else v for v in shown)
        return [
            value,
            key,
            slice_value,
            n,
            metric,
            "" if base is None else base,
            effect,
            low,
            high,
            significant,
            too_small,
            json.dumps(list(seeds)),
        ]

    for entry in results.get("effects") or []:
        parts = [(entry["removed"], entry)]
        if entry.get("control"):
            parts.append((control_key(entry["removed"]), entry["control"]))
        for value, part in parts:
            seeds = part["seeds"]
            writer.writerow(row(value, "", "", baseline.get("overall"), part["overall"], seeds))
            for key, table in part["slices"].items():
                for v, cell in table.items():
                    base = ((baseline.get("slices") or {}).get(key) or {}).get(v) or {}
                    writer.writerow(row(value, key, v, base.get("value"), cell, seeds))
    return buf.getvalue()
