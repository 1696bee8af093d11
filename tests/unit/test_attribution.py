"""Attribution math: the study plan under a budget, effects and their intervals, the CSV."""

from __future__ import annotations

import csv
import io
import random
from typing import Any, Dict, List

import pytest

from verifily_core.domain.attribution import CSV_COLUMNS, attribution_effects, plan_study, results_csv
from verifily_core.errors import AttributionError


def rows(n: int, accuracy: float, seed: int, *, hard_every: int = 3) -> List[Dict[str, Any]]:
    """Classification predictions over one fixed test set (same inputs and references for every seed),
    each prediction right with probability ``accuracy``."""
    truth, rng = random.Random(0), random.Random(seed)
    out = []
    for i in range(n):
        label = truth.choice(["pos", "neg"])
        right = rng.random() < accuracy
        out.append(
            {
                "index": i,
                "input": f"text {i}",
                "reference": label,
                "prediction": label if right else ("neg" if label == "pos" else "pos"),
                "tags": {"difficulty": "hard" if i % hard_every == 0 else "easy"},
            }
        )
    return out


def effects(full: Dict[int, Any], ablated: Dict[str, Dict[int, Any]], **kw: Any) -> Dict[str, Any]:
    settings = {"n_boot": 400, "seed": 0, "min_slice_n": 30, **kw}
    return attribution_effects("classification", "accuracy", full, ablated, ["difficulty"], **settings)


def overall(result: Dict[str, Any], value: str = "x") -> Dict[str, Any]:
    return next(e for e in result["effects"] if e["removed"] == value)["overall"]


def test_identical_prediction_files_give_a_zero_interval() -> None:
    same = rows(300, 0.7, 1)
    result = effects({1: same}, {"x": {1: list(reversed(same))}})  # row order does not matter
    cell = overall(result)
    assert (cell["effect"], cell["low"], cell["high"], cell["significant"]) == (0.0, 0.0, 0.0, False)
    for cell in result["effects"][0]["slices"]["difficulty"].values():
        assert (cell["low"], cell["high"]) == (0.0, 0.0)


def test_a_clear_effect_is_found_with_its_sign_and_the_baseline_is_the_full_run() -> None:
    full, better = rows(400, 0.6, 1), rows(400, 0.9, 2)
    result = effects({1: full}, {"x": {1: better}})
    cell = overall(result)
    observed = (
        sum(r["prediction"] == r["reference"] for r in better) / 400
        - sum(r["prediction"] == r["reference"] for r in full) / 400
    )
    assert cell["effect"] == pytest.approx(observed)
    assert cell["low"] <= cell["effect"] <= cell["high"] and cell["low"] > 0 and cell["significant"] is True
    assert result["baseline"]["overall"] == pytest.approx(
        sum(r["prediction"] == r["reference"] for r in full) / 400
    )
    assert {v["n"] for v in result["baseline"]["slices"]["difficulty"].values()} == {134, 266}


def test_intervals_shrink_as_the_test_set_grows() -> None:
    widths = []
    for n in (100, 400, 1600):
        cell = overall(effects({1: rows(n, 0.7, 1)}, {"x": {1: rows(n, 0.75, 2)}}))
        widths.append(cell["high"] - cell["low"])
    assert widths[0] > widths[1] > widths[2]


def test_deterministic_under_a_seed_and_another_seed_draws_otherwise() -> None:
    full, ablated = {1: rows(200, 0.7, 1)}, {"x": {1: rows(200, 0.75, 2)}}
    assert effects(full, ablated, seed=5) == effects(full, ablated, seed=5)
    assert overall(effects(full, ablated, seed=5)) != overall(effects(full, ablated, seed=6))


def test_seeds_that_disagree_widen_the_interval() -> None:
    """Each seed alone shows a clear effect, but of opposite signs: the combined interval spans zero."""
    full = {1: rows(600, 0.7, 1), 2: rows(600, 0.7, 1)}
    one_seed = overall(effects({1: full[1]}, {"x": {1: rows(600, 0.9, 3)}}))
    both = overall(effects(full, {"x": {1: rows(600, 0.9, 3), 2: rows(600, 0.5, 4)}}))
    assert one_seed["significant"] is True
    assert len(both["seed_effects"]) == 2 and both["seed_effects"][0] > 0 > both["seed_effects"][1]
    assert both["low"] < 0 < both["high"] and both["significant"] is False


def test_small_slices_are_flagged_not_judged() -> None:
    result = effects({1: rows(200, 0.5, 1, hard_every=20)}, {"x": {1: rows(200, 0.95, 2, hard_every=20)}})
    cells = result["effects"][0]["slices"]["difficulty"]
    assert (
        cells["hard"]["n"] == 10
        and cells["hard"]["too_small"] is True
        and cells["hard"]["significant"] is None
    )
    assert cells["easy"]["too_small"] is False and cells["easy"]["significant"] is True


def test_a_value_whose_runs_did_not_finish_has_no_cells() -> None:
    result = effects({1: rows(100, 0.7, 1)}, {"x": {1: rows(100, 0.7, 2)}, "y": {}})
    entry = next(e for e in result["effects"] if e["removed"] == "y")
    assert entry["overall"] is None and entry["seeds"] == []


def test_runs_on_other_test_examples_are_refused() -> None:
    other = rows(100, 0.7, 2)
    other[0] = {**other[0], "input": "something else"}
    with pytest.raises(AttributionError, match="other test examples"):
        effects({1: rows(100, 0.7, 1)}, {"x": {1: other}})


def test_plan_without_budget_runs_everything_full_run_first() -> None:
    plan = plan_study({"a": 10, "b": 30}, seeds=2, base_seed=42, budget=None)
    assert plan.values == ["b", "a"] and plan.seeds == [42, 43]
    assert [(r.removed, r.seed) for r in plan.runs] == [
        (None, 42),
        ("b", 42),
        ("a", 42),
        (None, 43),
        ("b", 43),
        ("a", 43),
    ]


@pytest.mark.parametrize(
    ("budget", "values", "seeds"),
    [(8, ["c", "b", "a"], [0, 1]), (7, ["c", "b", "a"], [0]), (3, ["c", "b"], [0]), (2, ["c"], [0])],
)
def test_budget_cuts_seeds_then_the_smallest_values(budget: int, values: List[str], seeds: List[int]) -> None:
    plan = plan_study({"a": 1, "b": 2, "c": 3}, seeds=3, base_seed=0, budget=budget)
    assert len(plan.runs) <= budget
    assert (plan.values, plan.seeds) == (values, seeds)
    assert plan.dropped_values == [v for v in ["c", "b", "a"] if v not in values]


def test_a_budget_without_room_for_one_ablation_is_refused() -> None:
    with pytest.raises(AttributionError, match="at least 2 runs"):
        plan_study({"a": 1, "b": 2}, seeds=1, base_seed=0, budget=1)


def test_csv_has_one_row_per_value_and_slice() -> None:
    result = effects({1: rows(120, 0.7, 1)}, {"x": {1: rows(120, 0.8, 2)}, "y": {1: rows(120, 0.6, 3)}})
    table = list(csv.reader(io.StringIO(results_csv({**result, "metric": "accuracy"}))))
    assert tuple(table[0]) == CSV_COLUMNS
    assert len(table) == 1 + 2 * 3 and {len(r) for r in table} == {len(CSV_COLUMNS)}
    assert [r[0] for r in table[1:]] == ["x"] * 3 + ["y"] * 3 and table[1][1] == ""
