"""``verifily attribute`` end to end on the scikit-learn backend (seconds per study): a source of pure
label noise is found to hurt and the clean source to help, each with an interval excluding zero; the
study folder, its run folders, resume, budget and the errors before any training."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any, Dict, List

import pytest
import yaml
from helpers.data import sentiment_rows, write_jsonl

pytest.importorskip("verifily_sklearn", reason="the sklearn example backend (examples/verifily-sklearn)")


@pytest.fixture()
def workspace(tmp_path: Path) -> Path:
    write_jsonl(tmp_path / "clean.jsonl", sentiment_rows(120, 1, "clean"))
    write_jsonl(tmp_path / "noisy.jsonl", sentiment_rows(300, 2, "noisy", noise=0.5))  # labels are coin flips
    write_jsonl(tmp_path / "test.jsonl", sentiment_rows(400, 4, "heldout"))
    write_config(tmp_path)
    return tmp_path


def write_config(root: Path, **changes: Any) -> Path:
    config: Dict[str, Any] = {
        "task": "classification",
        "backend": "sklearn",
        "base_model": "tfidf-logreg",
        "seed": 1,
        "trackers": [],
        "data_paths": {"train": ["clean.jsonl", "noisy.jsonl"], "test": "test.jsonl"},
        "eval": {"slice_by_tags": ["difficulty"]},
        "output": {"dir": "runs/"},
    }
    config.update(changes)
    path = root / "train.yaml"
    path.write_text(yaml.safe_dump(config), encoding="utf-8")
    return path


def attribute(root: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "COLUMNS": "200"}
    return subprocess.run(
        [sys.executable, "-m", "verifily_train", "attribute", *args],
        cwd=root,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )


def study_dirs(root: Path) -> List[Path]:
    return sorted((root / "runs").glob("attribute_*")) if (root / "runs").is_dir() else []


def effect(results: Dict[str, Any], value: str) -> Dict[str, Any]:
    return next(e for e in results["effects"] if e["removed"] == value)


def test_noise_source_hurts_and_clean_source_helps(workspace: Path) -> None:
    done = attribute(workspace, "--config", "train.yaml", "--seeds", "2", "--json")
    assert done.returncode == 0, done.stderr
    results = json.loads(done.stdout)
    noisy, clean = effect(results, "noisy"), effect(results, "clean")
    assert noisy["overall"]["low"] > 0 and noisy["overall"]["significant"] is True
    assert clean["overall"]["high"] < 0 and clean["overall"]["significant"] is True
    assert set(noisy["slices"]["difficulty"]) == {"easy", "hard"} and noisy["seeds"] == [1, 2]
    assert "Plan: 10 run(s)" in done.stderr and "2 same-size control(s)" in done.stderr
    assert "remaining run(s)" in done.stderr
    # dropping all 120 clean rows costs far more than dropping 120 rows at random: the source, not size
    assert clean["control"]["seeds"] == [1, 2]
    assert clean["overall"]["effect"] < clean["control"]["overall"]["effect"]
    assert clean["overall"]["high"] < clean["control"]["overall"]["low"]

    [study] = study_dirs(workspace)
    for name in ("attribute_spec.json", "attribute_results.json", "attribute_results.csv"):
        assert (study / name).is_file(), name
    assert (study / "attribute_heatmap.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert json.loads((study / "attribute_results.json").read_text())["effects"] == results["effects"]
    csv_rows = (study / "attribute_results.csv").read_text().splitlines()
    assert len(csv_rows) == 1 + 2 * 2 * 3  # per value: its effect and its control, overall + 2 slices
    token = study.name.rsplit("_", 1)[-1]
    for run in results["runs"]:
        folder = Path(run["run_path"])
        assert run["status"] == "completed" and folder.parent == workspace / "runs"
        assert folder.name.endswith(run["name"]) and run["name"].startswith(f"attr_{token}_")
        assert json.loads((folder / "run_meta.json").read_text())["status"] == "completed"
        assert (folder / "eval" / "predictions.jsonl").is_file()


def test_table_output_and_resume_keeps_finished_runs(workspace: Path) -> None:
    first = attribute(workspace, "--config", "train.yaml", "--bootstrap", "200")
    assert first.returncode == 0, first.stderr
    assert (
        "Attribution: macro_f1 by _source_dataset" in first.stdout and "Baseline (full data)" in first.stdout
    )
    assert "Slice difficulty=hard" in first.stdout and " *" in first.stdout
    assert "Same-size control" in first.stdout and "Control = the same number of rows" in first.stdout
    [study] = study_dirs(workspace)
    results = json.loads((study / "attribute_results.json").read_text())
    before = {r["name"]: r["run_id"] for r in results["runs"]}
    results["runs"][2]["status"] = "failed"  # as if the last run had died
    (study / "attribute_results.json").write_text(json.dumps(results))

    refused = attribute(workspace, "--resume", str(study), "--seeds", "3")
    assert refused.returncode == 2 and "--seeds" in refused.stderr

    again = attribute(workspace, "--resume", str(study), "--json")
    assert again.returncode == 0, again.stderr
    resumed = json.loads(again.stdout)
    after = {r["name"]: r["run_id"] for r in resumed["runs"]}
    changed = [name for name in before if before[name] != after[name]]
    assert changed == [results["runs"][2]["name"]] and "1 to train" in again.stderr
    assert resumed["effects"] and study_dirs(workspace) == [study]


def test_any_training_tag_with_budget_writes_filtered_data(workspace: Path) -> None:
    done = attribute(
        workspace,
        "--config",
        "train.yaml",
        "--by",
        "domain",
        "--budget",
        "2",
        "--slice-by",
        "domain",
        "--no-control",
        "--json",
    )
    assert done.returncode == 0, done.stderr
    results = json.loads(done.stdout)
    kept, dropped = results["values"], results["dropped_values"]
    assert len(kept) == 1 and len(dropped) == 2 and len(results["runs"]) == 2
    assert any(", ".join(dropped) in note for note in results["notes"])
    ablation = next(r for r in results["runs"] if r["removed"] == kept[0])
    info = json.loads((Path(ablation["run_path"]) / "training_info.json").read_text())
    study = Path(results["study_dir"])
    files = [Path(p) for p in info["data_files"]["train"]]
    assert [f.name for f in files] == ["clean.jsonl", "noisy.jsonl"] and all(
        study in f.parents for f in files
    )
    rows = [json.loads(line) for f in files for line in f.read_text().splitlines()]
    assert rows and all(r["tags"]["domain"] != kept[0] for r in rows)
    assert info["num_train_rows"] == 420 - results["rows_removed"][kept[0]]
    assert set(effect(results, kept[0])["slices"]["domain"]) == {"food", "movie", "product"}


def test_same_size_controls_and_overrides_for_every_run(workspace: Path) -> None:
    done = attribute(
        workspace,
        "--config",
        "train.yaml",
        "--by",
        "domain",
        "--budget",
        "3",
        "--epochs",
        "2",
        "--set",
        "training.learning_rate=0.5",
        "--json",
    )
    assert done.returncode == 0, done.stderr
    results = json.loads(done.stdout)
    [value] = results["values"]
    removed = results["rows_removed"][value]
    runs = {r["removed"]: r for r in results["runs"]}
    assert set(runs) == {None, value, f"control:{value}"}
    ablation, control = runs[value], runs[f"control:{value}"]
    for run in (ablation, control):
        info = json.loads((Path(run["run_path"]) / "training_info.json").read_text())
        assert info["num_train_rows"] == 420 - removed  # the control is the same size
        frozen = yaml.safe_load((Path(run["run_path"]) / "config.yaml").read_text())
        assert frozen["training"]["num_epochs"] == 2 and frozen["training"]["learning_rate"] == 0.5
    info = json.loads((Path(control["run_path"]) / "training_info.json").read_text())
    rows = [
        json.loads(line) for p in info["data_files"]["train"] for line in Path(p).read_text().splitlines()
    ]
    assert {r["tags"]["domain"] for r in rows} >= {value}  # random rows: the value's own rows stay too
    assert "control" in effect(results, value) and control["name"].endswith(f"_control_{value}_s1")


@pytest.mark.parametrize(
    ("changes", "args", "message"),
    [
        ({"data_paths": {"train": ["clean.jsonl", "noisy.jsonl"]}}, [], "data_paths.test"),
        ({}, ["--by", "nosuchtag"], "Tag keys in the training data: "),
        ({"data_paths": {"train": "clean.jsonl", "test": "test.jsonl"}}, [], "only one value"),
        ({}, ["--budget", "2"], "at least 3 runs"),
        ({}, ["--budget", "1", "--no-control"], "at least 2 runs"),
        ({}, ["--metric", "nosuchmetric"], "Unknown metric"),
    ],
)
def test_bad_studies_are_refused_before_any_training(
    workspace: Path,
    changes: Dict[str, Any],
    args: List[str],
    message: str,
) -> None:
    write_config(workspace, **changes)
    done = attribute(workspace, "--config", "train.yaml", *args)
    assert done.returncode == 2 and message in done.stderr, done.stderr
    assert "Traceback" not in done.stderr and not (workspace / "runs").exists()
