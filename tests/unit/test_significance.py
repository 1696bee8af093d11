"""Bootstrap intervals on comparison deltas: exactness, determinism, pairing and rendering."""

from __future__ import annotations

import csv
import io
import json
import math
import random
from pathlib import Path
from typing import Any, Dict, List, Optional

import numpy as np
import pytest

from verifily_adapters.local_store.store import LocalArtifactStore
from verifily_core.domain import label_metrics
from verifily_core.domain.compare import RunView, build_comparison
from verifily_core.domain.compare_format import format_comparison
from verifily_core.domain.significance import bootstrap_significance, statistic
from verifily_core.services.comparison.compare import compare


def sft_rows(f1s: List[float], sources: Optional[List[str]] = None, offset: int = 0) -> List[Dict[str, Any]]:
    return [
        {
            "index": i + offset,
            "input": f"q{i + offset}",
            "reference": "r",
            "prediction": "p",
            "tags": {"source": (sources or ["human"] * len(f1s))[i]},
            "scores": {"f1": f},
        }
        for i, f in enumerate(f1s)
    ]


def random_rows(rng: random.Random, n: int) -> List[Dict[str, Any]]:
    return sft_rows([rng.random() for _ in range(n)])


def result_for(runs: Dict[str, List[Dict[str, Any]]], slice_by: Optional[str] = None) -> Any:
    """A comparison whose eval results are what the predictions say (as eval-cmd would write)."""
    views = []
    for name, rows in runs.items():
        f1 = sum(r["scores"]["f1"] for r in rows) / len(rows)
        slices: Dict[str, Any] = {}
        if slice_by:
            for value in {r["tags"][slice_by] for r in rows}:
                sub = [r["scores"]["f1"] for r in rows if r["tags"][slice_by] == value]
                slices.setdefault(slice_by, {})[value] = {"n": len(sub), "f1": sum(sub) / len(sub)}
        views.append(RunView(name, "sft", {"overall": {"f1": f1}, "slices": slices}, {}))
    return build_comparison(views, "f1", slice_by)


def test_identical_predictions_give_a_zero_interval() -> None:
    rows = sft_rows([random.Random(1).random() for _ in range(200)])
    sig = bootstrap_significance(result_for({"a": rows, "b": rows}), {"a": rows, "b": rows}, n_boot=200)
    assert sig["overall"]["b"] == {
        "low": 0.0,
        "high": 0.0,
        "n": 200,
        "paired": True,
        "significant": False,
        "too_small": False,
    }


def test_a_clear_improvement_excludes_zero_and_contains_the_delta() -> None:
    rng = random.Random(2)
    a = [rng.random() for _ in range(300)]
    b = [min(1.0, x + 0.1 + rng.random() * 0.05) for x in a]
    runs = {"a": sft_rows(a), "b": sft_rows(b)}
    result = result_for(runs)
    cell = bootstrap_significance(result, runs, n_boot=500)["overall"]["b"]
    assert cell["paired"] and cell["significant"]
    assert 0 < cell["low"] <= result.deltas["b"] <= cell["high"]


def test_deterministic_under_a_seed() -> None:
    rng = random.Random(3)
    runs = {"a": random_rows(rng, 100), "b": random_rows(rng, 100)}
    result = result_for(runs)
    one = bootstrap_significance(result, runs, n_boot=300, seed=7)
    assert one == bootstrap_significance(result, runs, n_boot=300, seed=7)
    assert one["overall"] != bootstrap_significance(result, runs, n_boot=300, seed=8)["overall"]


def test_intervals_shrink_as_the_test_set_grows() -> None:
    def width(n: int) -> float:
        rng = random.Random(4)
        runs = {"a": random_rows(rng, n), "b": random_rows(rng, n)}
        cell = bootstrap_significance(result_for(runs), runs, n_boot=400)["overall"]["b"]
        return float(cell["high"] - cell["low"])

    small, large = width(100), width(1600)
    assert large < small / 2  # the width falls like 1/sqrt(n): a quarter, with bootstrap noise


def test_other_test_examples_are_compared_unpaired_and_said_so() -> None:
    rng = random.Random(5)
    runs = {
        "a": sft_rows([rng.random() for _ in range(80)]),
        "b": sft_rows([rng.random() for _ in range(90)], offset=1000),
    }
    sig = bootstrap_significance(result_for(runs), runs, n_boot=100)
    assert sig["overall"]["b"]["paired"] is False
    assert any("unpaired" in n and "b was evaluated on other test examples" in n for n in sig["notes"])


def test_small_slices_are_flagged_not_judged() -> None:
    sources = ["human"] * 100 + ["synthetic"] * 10
    runs = {"a": sft_rows([0.0] * 110, sources), "b": sft_rows([1.0] * 110, sources)}
    sig = bootstrap_significance(result_for(runs, "source"), runs, n_boot=100, min_slice_n=30)
    human, synthetic = sig["slices"]["source"]["human"]["b"], sig["slices"]["source"]["synthetic"]["b"]
    assert (human["n"], human["too_small"], human["significant"]) == (100, False, True)
    assert (synthetic["n"], synthetic["too_small"], synthetic["significant"]) == (10, True, None)


def test_a_run_without_predictions_gets_no_interval() -> None:
    rows = sft_rows([0.5] * 40)
    sig = bootstrap_significance(result_for({"a": rows, "b": rows}), {"a": rows, "b": None}, n_boot=50)
    assert sig["overall"]["b"] is None
    assert any("No interval for b" in n for n in sig["notes"])


# ---------------------------------------------------------------------- statistics vs the metrics module


def test_vectorised_macro_f1_and_accuracy_equal_the_metrics_module() -> None:
    rng = random.Random(6)
    labels = ["pos", "neg", "neu", "other"]
    rows = [{"reference": rng.choice(labels), "prediction": rng.choice(labels)} for _ in range(60)]
    idx = np.random.default_rng(0).integers(0, 60, size=(20, 60))
    for name in ("macro_f1", "accuracy"):
        stat = statistic(rows, "classification", name)
        assert stat is not None
        got = stat(idx)
        fn = getattr(label_metrics, name)
        for b in range(20):
            sample = [rows[i] for i in idx[b]]
            want = fn([r["reference"] for r in sample], [r["prediction"] for r in sample])
            assert got[b] == pytest.approx(want)


def test_vectorised_perplexity_is_token_weighted() -> None:
    rows = [{"scores": {"nll_sum": float(i + 1), "num_tokens": i % 3 + 1}} for i in range(9)]
    stat = statistic(rows, "sft", "perplexity")
    assert stat is not None
    idx = np.array([[0, 0, 4, 8]])
    assert stat(idx)[0] == pytest.approx(math.exp((1 + 1 + 5 + 9) / (1 + 1 + 2 + 3)))


# ---------------------------------------------------------------------- through compare() and the formats


def _run(root: Path, name: str, rows: List[Dict[str, Any]]) -> Path:
    store = LocalArtifactStore(root)
    run_id = store.create_run(name).run_id
    store.write_json(run_id, "run_meta.json", {"task": "sft"})
    f1 = sum(r["scores"]["f1"] for r in rows) / len(rows)
    store.write_json(run_id, "eval/eval_results.json", {"num_examples": len(rows), "overall": {"f1": f1}})
    store.write_jsonl(run_id, "eval/predictions.jsonl", rows)
    return root / run_id


def test_compare_with_bootstrap_carries_intervals_in_every_format(tmp_path: Path) -> None:
    rng = random.Random(7)
    sources = [rng.choice(["human", "synthetic"]) for _ in range(120)]
    a = [rng.random() for _ in range(120)]
    paths = [
        _run(tmp_path, "a", sft_rows(a, sources)),
        _run(tmp_path, "b", sft_rows([x + 0.2 for x in a], sources)),
    ]
    result = compare(
        [str(p) for p in paths], slice_by="source", bootstrap=200, seed=1, store_factory=LocalArtifactStore
    )
    b = paths[1].name
    assert result.significance["overall"][b]["significant"] is True
    assert "Slice metrics show correlation, not causation." in result.notes  # the guide's shape stays

    table = format_comparison(result, fmt="table")
    assert "95% CI of delta (bootstrap, 200 resamples, seed 1; * excludes zero):" in table
    cell = result.significance["overall"][b]
    assert f"[{cell['low']:+.4f}, {cell['high']:+.4f}] *" in table

    data = json.loads(format_comparison(result, fmt="json"))
    assert data["significance"]["slices"]["source"]["human"][b]["paired"] is True

    rows = list(csv.DictReader(io.StringIO(format_comparison(result, fmt="csv"))))
    overall_b = next(r for r in rows if r["run"] == b and r["slice_key"] == "")
    assert float(overall_b["ci_low"]) == pytest.approx(cell["low"])
    assert overall_b["significant"] == "True"


def test_boolean_tag_slices_get_intervals(tmp_path: Path) -> None:
    rng = random.Random(8)
    a = [rng.random() for _ in range(60)]
    runs = []
    for name, f1s in (("a", a), ("b", [x + 0.3 for x in a])):
        rows = sft_rows(f1s)
        for i, r in enumerate(rows):
            r["tags"] = {"verified": i % 2 == 0}
        runs.append(_run(tmp_path, name, rows))
    result = compare(
        [str(p) for p in runs], slice_by="verified", bootstrap=100, store_factory=LocalArtifactStore
    )
    by_value = result.significance["slices"]["verified"]
    assert set(by_value) == {"true", "false"}
    for value in ("true", "false"):
        cell = by_value[value][runs[1].name]
        assert cell is not None and cell["n"] == 30 and cell["paired"] is True
        assert cell["low"] == pytest.approx(0.3) and cell["high"] == pytest.approx(0.3)


def test_without_bootstrap_there_is_no_significance(tmp_path: Path) -> None:
    paths = [_run(tmp_path, n, sft_rows([0.5] * 5)) for n in "ab"]
    result = compare([str(p) for p in paths], store_factory=LocalArtifactStore)
    assert result.significance is None
    assert "significance" not in result.to_dict()
    assert "ci_low" not in format_comparison(result, fmt="csv")
