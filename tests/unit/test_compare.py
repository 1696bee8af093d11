"""compare(): run folders written by hand, compared in all three formats, and every clear error."""

from __future__ import annotations

import csv
import io
import json
import subprocess
import sys
from pathlib import Path
from typing import Any, Dict, List, Mapping, Optional

import pytest
import yaml

from verifily_adapters.local_store.store import LocalArtifactStore
from verifily_core.domain.compare import CAUSATION_NOTE, RunView, build_comparison
from verifily_core.domain.compare_format import CSV_COLUMNS, format_comparison
from verifily_core.errors import CompareError, RunNotFoundError
from verifily_core.services.comparison.compare import compare


def _config(task: str, train: Any, **extra: Any) -> Dict[str, Any]:
    cfg: Dict[str, Any] = {
        "task": task,
        "base_model": "tiny",
        "seed": 42,
        "data_paths": {"train": train, "val": None, "test": "data/test.jsonl"},
        "training": {"learning_rate": 0.0002, "num_epochs": 3},
        "lora": {"r": 16, "target_modules": ["q_proj", "v_proj"]},
    }
    for dotted, value in extra.items():
        section, key = dotted.split("__")
        cfg[section][key] = value
    return cfg


def make_run(
    root: Path,
    name: str,
    *,
    task: str = "sft",
    overall: Optional[Mapping[str, float]] = None,
    slices: Optional[Mapping[str, Any]] = None,
    config: Optional[Mapping[str, Any]] = None,
    predictions: Optional[List[Mapping[str, Any]]] = None,
    evaluated: bool = True,
    num_examples: int = 100,
    test_data_path: str = "data/test.jsonl",
) -> Path:
    """A run folder as train + eval-cmd leave it (only the files compare reads)."""
    store = LocalArtifactStore(root)
    run_id = store.create_run(name).run_id
    store.write_json(run_id, "run_meta.json", {"run_id": run_id, "status": "completed", "task": task})
    store.write_json(run_id, "training_info.json", {"task": task, "base_model": "tiny"})
    store.write_text(run_id, "config.yaml", yaml.safe_dump(config or _config(task, "data/train.jsonl")))
    if evaluated:
        store.write_json(
            run_id,
            "eval/eval_results.json",
            {
                "run_id": run_id,
                "test_data_path": test_data_path,
                "num_examples": num_examples,
                "overall": dict(overall or {"exact_match": 0.5, "f1": 0.7, "perplexity": 4.0}),
                "slices": dict(slices or {}),
                "hard_examples": [],
                "eval_duration_seconds": 1.0,
            },
        )
    if predictions is not None:
        store.write_jsonl(run_id, "eval/predictions.jsonl", predictions)
    return root / run_id


def _slices(human: float, synthetic: float) -> Dict[str, Any]:
    return {
        "source": {
            "human": {"n": 60, "f1": human, "exact_match": 0.5},
            "synthetic": {"n": 40, "f1": synthetic, "exact_match": 0.4},
        }
    }


@pytest.fixture()
def three_runs(tmp_path: Path) -> List[Path]:
    """Three SFT runs trained on different data files, evaluated with slices by source."""
    specs = [
        ("model_a", "data/human.jsonl", 0.7139, (0.73, 0.69)),
        ("model_b", "data/contaminated.jsonl", 0.7057, (0.70, 0.71)),
        ("model_c", ["data/human.jsonl", "data/synthetic.jsonl"], 0.7217, (0.75, 0.68)),
    ]
    return [
        make_run(
            tmp_path / "runs",
            name,
            overall={"f1": f1, "exact_match": 0.6},
            slices=_slices(*sl),
            config=_config("sft", train),
        )
        for name, train, f1, sl in specs
    ]


def _compare(paths: List[Path], **kwargs: Any) -> Any:
    return compare([str(p) for p in paths], store_factory=LocalArtifactStore, **kwargs)


# ---------------------------------------------------------------------- the comparison


def test_three_runs_overall_deltas_and_config_diff(three_runs: List[Path]) -> None:
    result = _compare(three_runs, metric="f1", slice_by="source")
    names = [p.name for p in three_runs]
    assert result.runs == names
    want = {
        p.name: json.loads((p / "eval/eval_results.json").read_text())["overall"]["f1"] for p in three_runs
    }
    assert result.overall == want
    assert result.deltas[names[0]] == 0.0
    for name in names:
        assert result.deltas[name] == pytest.approx(want[name] - want[names[0]])
    train = result.config_diff["data_paths.train"]
    assert train == {
        names[0]: "data/human.jsonl",
        names[1]: "data/contaminated.jsonl",
        names[2]: ["data/human.jsonl", "data/synthetic.jsonl"],
    }
    assert "training.learning_rate" not in result.config_diff  # equal everywhere
    assert "lora.target_modules" not in result.config_diff  # equal lists are equal values
    assert CAUSATION_NOTE in result.notes


def test_slices_hold_value_n_and_delta_against_the_first_run(three_runs: List[Path]) -> None:
    result = _compare(three_runs, metric="f1", slice_by=["source"])
    a, b, c = (p.name for p in three_runs)
    human = result.slices["source"]["human"]
    assert human[a] == {"value": 0.73, "n": 60, "delta": 0.0}
    assert human[b]["delta"] == pytest.approx(0.70 - 0.73)
    assert result.slices["source"]["synthetic"][c]["delta"] == pytest.approx(0.68 - 0.69)


def test_config_diff_compares_lists_and_numbers_as_values(tmp_path: Path) -> None:
    runs = [
        make_run(tmp_path, "a", config=_config("sft", "t.jsonl", lora__target_modules=["q_proj"])),
        make_run(
            tmp_path,
            "b",
            config=_config(
                "sft", "t.jsonl", training__learning_rate=2e-4, lora__target_modules=["q_proj", "v_proj"]
            ),
        ),
    ]
    diff = _compare(runs).config_diff
    assert list(diff) == ["lora.target_modules"]
    assert diff["lora.target_modules"] == {runs[0].name: ["q_proj"], runs[1].name: ["q_proj", "v_proj"]}


def test_default_metric_follows_the_task(tmp_path: Path) -> None:
    sft = [
        make_run(tmp_path / "s", n, overall={"f1": f, "exact_match": 0.1})
        for n, f in (("a", 0.5), ("b", 0.6))
    ]
    assert _compare(sft).metric == "f1"
    cls = [
        make_run(
            tmp_path / "c",
            n,
            task="classification",
            config=_config("classification", "t.jsonl"),
            overall={"accuracy": 0.9, "macro_f1": m},
        )
        for n, m in (("a", 0.8), ("b", 0.7))
    ]
    result = _compare(cls)
    assert result.metric == "macro_f1"
    assert result.deltas[cls[1].name] == pytest.approx(0.7 - 0.8)


def test_run_ids_resolve_in_runs_dir_and_equal_ids_are_told_apart(tmp_path: Path) -> None:
    a = make_run(tmp_path / "runs", "same")
    b = make_run(tmp_path / "other", "same", overall={"f1": 0.9})
    result = compare([a.name, str(b)], runs_dir=tmp_path / "runs", store_factory=LocalArtifactStore)
    assert result.runs == [f"runs/{a.name}", f"other/{b.name}"]
    assert result.deltas[result.runs[1]] == pytest.approx(0.9 - 0.7)


def test_a_lower_is_better_metric_says_so(tmp_path: Path) -> None:
    runs = [make_run(tmp_path, n) for n in ("a", "b")]
    assert any("Lower perplexity is better" in n for n in _compare(runs, metric="perplexity").notes)


def test_different_test_data_is_noted(tmp_path: Path) -> None:
    runs = [make_run(tmp_path, "a"), make_run(tmp_path, "b", test_data_path="data/other.jsonl")]
    assert any("different test data" in n and "data/other.jsonl" in n for n in _compare(runs).notes)


# ---------------------------------------------------------------------- formats


GUIDE_TABLE = """\
Comparison: f1

  Run                                  Overall
  ----------------------------------- ----------
  run_20260208_model_a                    0.7139
  run_20260208_model_b                    0.7057
  run_20260208_model_c                    0.7217

  Delta (vs first)                       +0.0000    -0.0082    +0.0078

  Config differences:
    data_paths.train:
      run_20260208_model_a: data/human.jsonl
      run_20260208_model_b: data/contaminated.jsonl
      run_20260208_model_c: data/synthetic.jsonl

  Note: Slice metrics show correlation, not causation.
"""


def test_table_is_the_guides_sample_output() -> None:
    views = [
        RunView(
            f"run_20260208_model_{x}",
            "sft",
            {"overall": {"f1": f1}},
            {"task": "sft", "data_paths.train": f"data/{data}.jsonl"},
        )
        for x, f1, data in (("a", 0.7139, "human"), ("b", 0.7057, "contaminated"), ("c", 0.7217, "synthetic"))
    ]
    assert format_comparison(build_comparison(views, "f1"), fmt="table") == GUIDE_TABLE


def test_table_shows_slices_and_config_differences(three_runs: List[Path]) -> None:
    result = _compare(three_runs, metric="f1", slice_by="source")
    text = format_comparison(result, fmt="table")
    lines = text.splitlines()
    assert lines[0] == "Comparison: f1"
    human = lines.index("  Slice source=human:")
    b_row = lines[human + 2].split()
    assert b_row == [three_runs[1].name, "0.7000", f"{0.70 - 0.73:+.4f}", "n=60"]
    assert "    data_paths.train:" in lines
    assert f"      {three_runs[2].name}: " + json.dumps(["data/human.jsonl", "data/synthetic.jsonl"]) in lines
    assert lines[-1] == f"  Note: {CAUSATION_NOTE}"


def test_json_parses_back_to_the_result(three_runs: List[Path]) -> None:
    result = _compare(three_runs, metric="f1", slice_by="source")
    data = json.loads(format_comparison(result, fmt="json"))
    assert data["overall"] == result.overall
    assert data["deltas"] == pytest.approx(result.deltas)
    assert data["config_diff"]["data_paths.train"][three_runs[1].name] == "data/contaminated.jsonl"
    assert data["slices"]["source"]["synthetic"][three_runs[0].name]["value"] == 0.69
    assert data["notes"][0] == CAUSATION_NOTE


def test_csv_has_a_row_per_run_and_slice_value(three_runs: List[Path]) -> None:
    result = _compare(three_runs, metric="f1", slice_by="source")
    rows = list(csv.DictReader(io.StringIO(format_comparison(result, fmt="csv"))))
    assert tuple(rows[0]) == CSV_COLUMNS
    assert len(rows) == 3 * (1 + 2)
    overall = {r["run"]: r for r in rows if r["slice_key"] == ""}
    for name in result.runs:
        assert float(overall[name]["value"]) == result.overall[name]
        assert float(overall[name]["delta"]) == pytest.approx(result.deltas[name])
        assert overall[name]["n"] == "100"
    cell = next(r for r in rows if r["run"] == result.runs[1] and r["slice_value"] == "human")
    assert (cell["slice_key"], cell["n"], cell["metric"]) == ("source", "60", "f1")
    assert float(cell["delta"]) == pytest.approx(0.70 - 0.73)


def test_unknown_format_is_refused(three_runs: List[Path]) -> None:
    with pytest.raises(CompareError, match="table, json, csv"):
        format_comparison(_compare(three_runs), fmt="xml")


# ---------------------------------------------------------------------- slices from predictions


def _sft_rows(f1_by_source: Mapping[str, List[float]]) -> List[Dict[str, Any]]:
    rows = []
    for source, scores in f1_by_source.items():
        for s in scores:
            rows.append(
                {
                    "index": len(rows),
                    "input": "x",
                    "prediction": "p",
                    "reference": "r",
                    "tags": {"source": source},
                    "scores": {"f1": s, "exact_match": float(s == 1.0)},
                }
            )
    return rows


def test_missing_slices_are_recomputed_from_predictions(tmp_path: Path) -> None:
    scores = {"human": [1.0, 0.5, 0.0], "synthetic": [0.25, 0.75]}
    a = make_run(tmp_path, "a", slices=_slices(0.6, 0.6))
    b = make_run(tmp_path, "b", predictions=_sft_rows(scores))
    result = _compare([a, b], slice_by="source")
    human = result.slices["source"]["human"][b.name]
    assert human["value"] == pytest.approx(sum(scores["human"]) / 3)
    assert human["n"] == 3
    assert human["delta"] == pytest.approx(sum(scores["human"]) / 3 - 0.6)
    assert any("recomputed from eval/predictions.jsonl" in n and b.name in n for n in result.notes)


def test_classification_macro_f1_is_recomputed_per_slice(tmp_path: Path) -> None:
    from sklearn.metrics import f1_score

    labels = [
        ("pos", "pos", "web"),
        ("neg", "pos", "web"),
        ("neg", "neg", "web"),
        ("pos", "neg", "book"),
        ("pos", "pos", "book"),
        ("neg", "neg", "book"),
        ("neu", "neg", "book"),
    ]
    rows = [
        {"index": i, "input": "x", "reference": t, "prediction": p, "correct": t == p, "tags": {"domain": d}}
        for i, (t, p, d) in enumerate(labels)
    ]
    cfg = _config("classification", "t.jsonl")
    runs = [
        make_run(
            tmp_path,
            n,
            task="classification",
            config=cfg,
            predictions=rows,
            overall={"macro_f1": 0.5, "accuracy": 0.6},
        )
        for n in ("a", "b")
    ]
    result = _compare(runs, slice_by="domain")
    for domain in ("web", "book"):
        sub = [(t, p) for t, p, d in labels if d == domain]
        want = f1_score([t for t, _ in sub], [p for _, p in sub], average="macro", zero_division=0)
        assert result.slices["domain"][domain][runs[1].name]["value"] == pytest.approx(want)


def test_perplexity_slices_are_token_weighted_from_predictions(tmp_path: Path) -> None:
    import math

    losses = [("human", 2.0, 1), ("human", 6.0, 3), ("synthetic", 3.0, 2)]
    rows = [
        {
            "index": i,
            "input": "x",
            "reference": "r",
            "tags": {"source": s},
            "scores": {"nll_sum": nll, "num_tokens": tok},
        }
        for i, (s, nll, tok) in enumerate(losses)
    ]
    runs = [make_run(tmp_path, n, predictions=rows) for n in "ab"]
    human = _compare(runs, metric="perplexity", slice_by="source").slices["source"]["human"]
    assert human[runs[0].name]["value"] == pytest.approx(math.exp((2.0 + 6.0) / (1 + 3)))
    assert human[runs[0].name]["n"] == 2


def test_boolean_tag_slices_are_named_as_the_evaluator_names_them(tmp_path: Path) -> None:
    rows = [
        {
            "index": i,
            "input": "x",
            "prediction": "p",
            "reference": "r",
            "tags": {"verified": i % 3 == 0},
            "scores": {"f1": i / 10},
        }
        for i in range(9)
    ]
    stored = {"verified": {"true": {"n": 3, "f1": 0.9}, "false": {"n": 6, "f1": 0.1}}}
    a = make_run(tmp_path, "a", slices=stored)
    b = make_run(tmp_path, "b", predictions=rows)
    table = _compare([a, b], slice_by="verified").slices["verified"]
    assert set(table) == {"true", "false"}  # the stored and the recomputed slices share their names
    for name, flag in (("true", True), ("false", False)):
        f1s = [r["scores"]["f1"] for r in rows if r["tags"]["verified"] is flag]
        mean = sum(f1s) / len(f1s)
        assert table[name][b.name]["value"] == pytest.approx(mean)
        assert table[name][b.name]["delta"] == pytest.approx(mean - stored["verified"][name]["f1"])


# ---------------------------------------------------------------------- clear errors


def test_fewer_than_two_runs(three_runs: List[Path]) -> None:
    with pytest.raises(CompareError, match="at least two runs, got 1"):
        _compare(three_runs[:1])


def test_a_run_without_eval_results_names_it_and_the_command(tmp_path: Path) -> None:
    a = make_run(tmp_path, "a")
    b = make_run(tmp_path, "b", evaluated=False)
    with pytest.raises(CompareError) as info:
        _compare([a, b])
    assert b.name in info.value.message and "eval/eval_results.json" in info.value.message
    assert info.value.hint == f"Evaluate it first: verifily eval-cmd --run {b}"


def test_a_metric_a_run_lacks_lists_the_ones_it_has(tmp_path: Path) -> None:
    a = make_run(tmp_path, "a", overall={"f1": 0.5, "rougeL": 0.4})
    b = make_run(tmp_path, "b", overall={"f1": 0.5, "exact_match": 0.3})
    with pytest.raises(CompareError, match=r"no metric 'rougeL'.*it has: f1, exact_match") as info:
        _compare([a, b], metric="rougeL")
    assert b.name in info.value.message


def test_a_non_scalar_metric_is_refused(tmp_path: Path) -> None:
    runs = [make_run(tmp_path, n, overall={"f1": 0.5, "confusion_matrix": [[1, 0], [0, 1]]}) for n in "ab"]
    with pytest.raises(CompareError, match="not a single number"):
        _compare(runs, metric="confusion_matrix")


def test_runs_of_different_tasks(tmp_path: Path) -> None:
    a = make_run(tmp_path, "a")
    b = make_run(
        tmp_path,
        "b",
        task="classification",
        config=_config("classification", "t.jsonl"),
        overall={"f1": 0.5, "macro_f1": 0.5},
    )
    want = f"different tasks cannot be compared: {a.name} is sft, {b.name} is classification"
    with pytest.raises(CompareError, match=want):
        _compare([a, b], metric="f1")


def test_different_tasks_are_named_before_a_default_metric_is_missed(tmp_path: Path) -> None:
    a = make_run(tmp_path, "a", overall={"f1": 0.5})
    b = make_run(tmp_path, "b", task="classification", overall={"macro_f1": 0.5})
    with pytest.raises(CompareError, match="different tasks"):
        _compare([a, b])


def test_a_missing_slice_key_without_predictions_says_how_to_get_it(tmp_path: Path) -> None:
    a = make_run(tmp_path, "a", slices=_slices(0.5, 0.5))
    b = make_run(tmp_path, "b", slices={"difficulty": {"easy": {"n": 3, "f1": 1.0}}})
    with pytest.raises(CompareError, match=r"no slices by 'source'.*slice keys it has: difficulty") as info:
        _compare([a, b], slice_by="source")
    assert info.value.hint == f"Re-run: verifily eval-cmd --run {b} --slice-by source"


def test_a_slice_key_no_prediction_carries_lists_the_tags(tmp_path: Path) -> None:
    a = make_run(tmp_path, "a", predictions=_sft_rows({"human": [1.0]}))
    b = make_run(tmp_path, "b", predictions=_sft_rows({"human": [0.0]}))
    with pytest.raises(CompareError, match=r"tag key\(s\) topic.*Tag keys present in the test data: source"):
        _compare([a, b], slice_by="topic")


def test_a_slice_metric_not_rebuildable_from_predictions(tmp_path: Path) -> None:
    runs = [make_run(tmp_path, n, predictions=_sft_rows({"human": [1.0]})) for n in "ab"]
    with pytest.raises(CompareError, match="lacks the per-example scores 'perplexity' needs"):
        _compare(runs, metric="perplexity", slice_by="source")


def test_an_unknown_run(tmp_path: Path) -> None:
    a = make_run(tmp_path / "runs", "a")
    with pytest.raises(RunNotFoundError, match="no run id 'run_nope'"):
        compare([str(a), "run_nope"], runs_dir=tmp_path / "runs", store_factory=LocalArtifactStore)
    with pytest.raises(RunNotFoundError, match="No run folder"):
        _compare([a, tmp_path / "missing"])


# ---------------------------------------------------------------------- import hygiene


def test_compare_imports_no_torch(three_runs: List[Path]) -> None:
    code = (
        "import sys\n"
        "from verifily_adapters.local_store.store import LocalArtifactStore\n"
        "from verifily_core.services.comparison.compare import compare\n"
        "from verifily_core.domain.compare_format import format_comparison\n"
        f"r = compare({[str(p) for p in three_runs]!r}, slice_by='source',\n"
        "            store_factory=LocalArtifactStore)\n"
        "format_comparison(r, 'table')\n"
        "print('torch' in sys.modules)\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"
