"""``compare-cmd`` and ``compare()`` carry 95% intervals by default; ``--bootstrap 0`` turns them off."""

from __future__ import annotations

import json
import random
from pathlib import Path
from typing import Any, Dict, List

from typer.testing import CliRunner

from verifily_adapters.local_store.store import LocalArtifactStore
from verifily_cli.app import app

runner = CliRunner()


def run_folder(root: Path, name: str, f1s: List[float]) -> Path:
    rows: List[Dict[str, Any]] = [
        {
            "index": i,
            "input": f"q{i}",
            "reference": "r",
            "prediction": "p",
            "tags": {"source": "human" if i % 4 else "synthetic"},
            "scores": {"f1": f},
        }
        for i, f in enumerate(f1s)
    ]
    store = LocalArtifactStore(root)
    run_id = store.create_run(name).run_id
    store.write_json(run_id, "run_meta.json", {"task": "sft"})
    store.write_json(
        run_id, "eval/eval_results.json", {"num_examples": len(rows), "overall": {"f1": sum(f1s) / len(f1s)}}
    )
    store.write_jsonl(run_id, "eval/predictions.jsonl", rows)
    return root / run_id


def two_runs(root: Path) -> List[Path]:
    rng = random.Random(3)
    a = [rng.random() * 0.8 for _ in range(100)]
    return [run_folder(root, "a", a), run_folder(root, "b", [x + 0.15 for x in a])]


def compare_cmd(*args: str) -> Any:
    result = runner.invoke(app, ["compare-cmd", *args], env={"COLUMNS": "200"})
    assert "Traceback" not in result.output
    return result


def test_help_lists_the_significance_flags() -> None:
    result = runner.invoke(app, ["compare-cmd", "--help"], env={"COLUMNS": "200"})
    assert all(flag in result.output for flag in ("--bootstrap", "--seed", "--min-slice-n"))
    result = runner.invoke(app, ["attribute", "--help"], env={"COLUMNS": "200"})
    flags = "--config --by --seeds --budget --metric --slice-by --bootstrap --seed --resume --json"
    assert result.exit_code == 0 and not [f for f in flags.split() if f not in result.output]


def test_intervals_are_on_by_default_and_keep_the_guide_table(tmp_path: Path) -> None:
    a, b = two_runs(tmp_path)
    result = compare_cmd(
        "--runs", f"{a},{b}", "--metric", "f1", "--slice-by", "source", "--min-slice-n", "40"
    )
    assert result.exit_code == 0, result.output
    text = result.output
    guide = [
        "Comparison: f1",
        "Run",
        "Overall",
        "Delta (vs first)",
        "Config differences",
        "Slice metrics show correlation, not causation.",
    ]
    assert [text.index(w) for w in guide] == sorted(text.index(w) for w in guide)
    assert "95% CI of delta (bootstrap, 1000 resamples, seed 0; * excludes zero):" in text
    assert "too small to judge (n<40)" in text  # the 25 synthetic rows


def test_seed_and_bootstrap_zero(tmp_path: Path) -> None:
    a, b = two_runs(tmp_path)
    runs = f"{a},{b}"
    first = json.loads(
        compare_cmd("--runs", runs, "--format", "json", "--seed", "4", "--bootstrap", "300").output
    )
    again = json.loads(
        compare_cmd("--runs", runs, "--format", "json", "--seed", "4", "--bootstrap", "300").output
    )
    other = json.loads(
        compare_cmd("--runs", runs, "--format", "json", "--seed", "5", "--bootstrap", "300").output
    )
    assert first["significance"] == again["significance"] and first["significance"]["n_boot"] == 300
    assert other["significance"]["overall"] != first["significance"]["overall"]
    off = compare_cmd("--runs", runs, "--format", "csv", "--bootstrap", "0")
    assert off.exit_code == 0 and "ci_low" not in off.output
    bad = compare_cmd("--runs", runs, "--bootstrap", "-3")
    assert bad.exit_code == 2 and "--bootstrap" in bad.output


def test_facade_has_the_same_defaults(tmp_path: Path) -> None:
    from verifily_train.compare import compare

    a, b = two_runs(tmp_path)
    result = compare([str(a), str(b)], metric="f1", slice_by="source")
    assert result.significance is not None and result.significance["n_boot"] == 1000
    assert result.significance["min_slice_n"] == 30 and result.significance["seed"] == 0
    assert compare([str(a), str(b)], bootstrap=0).significance is None
