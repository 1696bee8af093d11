"""eval-cmd and compare-cmd as the guide shows them (issue 18), through real ``verifily`` processes
with COLUMNS unset and stdout a pipe, on the example sklearn backend (fast, real training)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Tuple

import pytest
import yaml
from helpers.cli import run_verifily
from helpers.data import sentiment_rows, write_jsonl

pytestmark = pytest.mark.timeout(300)


@pytest.fixture(scope="module")
def runs(tmp_path_factory: pytest.TempPathFactory) -> Tuple[Path, Path, Path]:
    root = tmp_path_factory.mktemp("cls")
    write_jsonl(root / "train.jsonl", sentiment_rows(60, 1, "reviews"))
    write_jsonl(root / "small.jsonl", sentiment_rows(12, 2, "reviews", noise=0.3))
    write_jsonl(root / "test.jsonl", sentiment_rows(30, 3, "reviews"))
    write_jsonl(root / "other.jsonl", sentiment_rows(20, 4, "forum"))
    made = []
    for name, train in (("a", "train.jsonl"), ("b", "small.jsonl")):
        cfg = {
            "task": "classification",
            "backend": "sklearn",
            "base_model": "tfidf-logreg",
            "name": name,
            "data_paths": {"train": train, "test": "test.jsonl"},
            "output": {"dir": "runs"},
        }
        (root / f"{name}.yaml").write_text(yaml.safe_dump(cfg))
        proc = run_verifily("train", "--config", f"{name}.yaml", cwd=root)
        assert proc.returncode == 0, proc.stderr
        made.append(next((root / "runs").glob(f"run_*_{name}")))
    return root, made[0], made[1]


def test_eval_on_other_data_gets_its_own_sealed_folder_and_the_main_result_stays(
    runs: Tuple[Path, Path, Path],
) -> None:
    root, a, b = runs
    main_before = (a / "eval" / "eval_results.json").read_text()
    proc = run_verifily("eval-cmd", "--run", str(a), "--test-data", "other.jsonl", cwd=root)
    assert proc.returncode == 0, proc.stderr
    assert "eval/other/eval_results.json" in proc.stdout and "main result (eval/) is unchanged" in proc.stdout
    assert (a / "eval" / "eval_results.json").read_text() == main_before
    other = json.loads((a / "eval" / "other" / "eval_results.json").read_text())
    assert other["evaluation"] == "other" and other["num_examples"] == 20
    hashes = json.loads((a / "hashes.json").read_text())
    assert "eval/other/eval_results.json" in json.dumps(hashes)
    verified = run_verifily("reproduce", "--run", str(a), "--verify-only", cwd=root)
    assert verified.returncode == 0, verified.stdout + verified.stderr

    named = run_verifily(
        "eval-cmd", "--run", str(b), "--test-data", "other.jsonl", "--name", "other", cwd=root
    )
    assert named.returncode == 0, named.stderr
    cmp = run_verifily("compare-cmd", "--runs", f"{a},{b}", "--eval", "other", "--format", "json", cwd=root)
    assert cmp.returncode == 0, cmp.stderr
    report = json.loads(cmp.stdout)
    assert report["evaluation"] == "other"
    assert report["overall"][a.name] == pytest.approx(other["overall"]["macro_f1"], abs=1e-9)
    table = run_verifily("compare-cmd", "--runs", f"{a},{b}", "--eval", "other", cwd=root)
    assert "on evaluation other (eval/other/)" in table.stdout


def test_compare_f1_on_classification_is_macro_f1_and_says_so(runs: Tuple[Path, Path, Path]) -> None:
    root, a, b = runs
    proc = run_verifily("compare-cmd", "--runs", f"{a},{b}", "--metric", "f1", cwd=root)
    assert proc.returncode == 0, proc.stderr
    assert "macro_f1" in proc.stdout and "macro F1" in proc.stdout
    js = run_verifily("compare-cmd", "--runs", f"{a},{b}", "--metric", "f1", "--format", "json", cwd=root)
    report = json.loads(js.stdout)
    for run in (a, b):
        macro = json.loads((run / "eval" / "eval_results.json").read_text())["overall"]["macro_f1"]
        assert report["overall"][run.name] == pytest.approx(macro, abs=1e-9)
        assert len(repr(report["overall"][run.name])) <= 14  # no float noise (0.6000000000000001)


def test_eval_output_has_no_stray_bar_one_hard_example_and_task_metric_hints(
    runs: Tuple[Path, Path, Path],
) -> None:
    root, a, _ = runs
    one = run_verifily("eval-cmd", "--run", str(a), "--hard-examples", "1", cwd=root)
    assert one.returncode == 0 and "(1 hard example)" in one.stdout
    reused = run_verifily("eval-cmd", "--run", str(a), "--from-predictions", cwd=root)
    missing = run_verifily("eval-cmd", "--run", str(a), "--test-data", "nope.jsonl", cwd=root)
    assert reused.returncode == 0 and missing.returncode == 2
    for proc in (reused, missing):
        assert "0/?" not in proc.stderr and "Evaluating" not in proc.stderr
    assert "Fix the lines listed" not in missing.stderr
    bad = run_verifily("eval-cmd", "--run", str(a), "--metrics", "nosuch", cwd=root)
    assert bad.returncode == 2 and "--metrics accuracy,macro_f1" in bad.stderr
    assert "exact_match" not in bad.stderr.split("Hint:")[-1]
