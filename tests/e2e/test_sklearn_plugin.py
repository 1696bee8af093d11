"""The third-party ``sklearn`` backend (examples/verifily-sklearn) through the whole product, via the CLI.

The plugin is installed like any third party's (an entry point in the ``verifily`` group); nothing
here imports it. Run A is trained by a real ``verifily`` process, so that the plugin is found from
installed metadata by a fresh interpreter, and re-trained in this process under another hash seed:
``reproduce`` then proves that the plugin's saved model is byte-identical across processes.
"""

from __future__ import annotations

import json
import os
import random
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any, Dict, List

import pytest
import yaml
from helpers.data import write_jsonl
from typer.testing import CliRunner

from verifily_cli.app import app
from verifily_core.domain.runs import (
    CONFIG_FILE,
    ENVIRONMENT,
    EVAL_RESULTS,
    HASHES,
    PREDICTIONS,
    RUN_META,
    TRAIN_SUMMARY,
    TRAINING_INFO,
)

pytestmark = pytest.mark.slow
runner = CliRunner()
WEIGHTS = "model/pipeline.json"
ENV = {"COLUMNS": "200"}

WORDS = {
    "positive": ["great", "excellent", "lovely", "superb", "charming"],
    "negative": ["terrible", "awful", "broken", "dreadful", "dull"],
}
THINGS = ["movie", "phone", "meal", "book", "hotel"]


def sentiment_rows(n: int, seed: int) -> List[Dict[str, Any]]:
    """Tagged sentiment rows: ``hard`` ones mention the opposite word too, so slices differ."""
    rng = random.Random(seed)
    rows = []
    for i in range(n):
        label = ("positive", "negative")[i % 2]
        other = "negative" if label == "positive" else "positive"
        word, thing = rng.choice(WORDS[label]), rng.choice(THINGS)
        difficulty = "hard" if rng.random() < 0.4 else "easy"
        text = (
            f"The {thing} is {word}."
            if difficulty == "easy"
            else f"I expected {rng.choice(WORDS[other])}, yet the {thing} was {word}."
        )
        rows.append(
            {
                "text": text,
                "label": label,
                "tags": {"source": rng.choice(["reviews", "forum"]), "difficulty": difficulty},
            }
        )
    return rows


def _config(root: Path, train: str, name: str) -> Path:
    cfg = {
        "task": "classification",
        "backend": "sklearn",
        "base_model": "tfidf-logreg",
        "seed": 5,
        "name": name,
        "data_paths": {"train": train, "val": "val.jsonl", "test": "test.jsonl"},
        "output": {"dir": "runs"},
    }
    path = root / f"{name}.yaml"
    path.write_text(yaml.safe_dump(cfg), encoding="utf-8")
    return path


def _cli(*args: str) -> Any:
    result = runner.invoke(app, list(args), env=ENV)
    assert "Traceback" not in result.output, result.output
    return result


def _verifily() -> str:
    found = Path(sys.executable).parent / "verifily"
    return str(found) if found.exists() else (shutil.which("verifily") or pytest.fail("no `verifily` script"))


def _run_dir(root: Path, name: str) -> Path:
    return next(p for p in sorted((root / "runs").iterdir()) if p.name.endswith(f"_{name}"))


@pytest.fixture(scope="module")
def runs(tmp_path_factory: pytest.TempPathFactory) -> Dict[str, Path]:
    """Two sklearn runs on different training files; A by a real subprocess, B in process."""
    root = tmp_path_factory.mktemp("sklearn_e2e")
    for name, n, seed in (("train_a", 80, 1), ("train_b", 80, 2), ("val", 20, 3), ("test", 30, 4)):
        write_jsonl(root / f"{name}.jsonl", sentiment_rows(n, seed))
    env = {**os.environ, **ENV, "PYTHONHASHSEED": "11"}
    done = subprocess.run(
        [_verifily(), "train", "--config", str(_config(root, "train_a.jsonl", "skl_a"))],
        capture_output=True,
        text=True,
        env=env,
        timeout=300,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    assert "Run completed: run_" in done.stdout and "Eval:        accuracy=" in done.stdout, done.stdout
    b = _cli("train", "--config", str(_config(root, "train_b.jsonl", "skl_b")))
    assert b.exit_code == 0, b.output
    return {"root": root, "a": _run_dir(root, "skl_a"), "b": _run_dir(root, "skl_b")}


def test_train_writes_a_complete_run_folder_and_evaluates_at_the_end(runs: Dict[str, Path]) -> None:
    run = runs["a"]
    for relpath in (
        CONFIG_FILE,
        ENVIRONMENT,
        HASHES,
        RUN_META,
        TRAIN_SUMMARY,
        TRAINING_INFO,
        EVAL_RESULTS,
        PREDICTIONS,
        WEIGHTS,
        "model/labels.json",
    ):
        assert (run / relpath).is_file(), f"{relpath} missing from {run}"
    meta = json.loads((run / RUN_META).read_text())
    assert meta["status"] == "completed" and meta["task"] == "classification"
    assert json.loads((run / TRAINING_INFO).read_text())["backend"] == "sklearn"
    assert {"scikit-learn", "numpy"} <= set(json.loads((run / ENVIRONMENT).read_text()))
    results = json.loads((run / EVAL_RESULTS).read_text())
    assert {"accuracy", "macro_f1", "confusion_matrix"} <= set(results["overall"])
    assert 0.5 < results["overall"]["accuracy"] <= 1.0
    assert sorted(json.loads((run / "model/labels.json").read_text())) == ["negative", "positive"]
    assert WEIGHTS in json.loads((run / HASHES).read_text())["artifacts"], "model not in the hash chain"


def test_eval_slices_by_tags_in_the_guides_shape(runs: Dict[str, Path]) -> None:
    ev = _cli("eval-cmd", "--run", str(runs["a"]), "--slice-by", "source,difficulty")
    assert ev.exit_code == 0, ev.output
    assert "Sliced by [source]:" in ev.output and "Sliced by [difficulty]:" in ev.output
    assert "source=reviews (n=" in ev.output and "source=forum (n=" in ev.output
    assert "difficulty=hard (n=" in ev.output and "accuracy=" in ev.output
    slices = json.loads((runs["a"] / EVAL_RESULTS).read_text())["slices"]
    tests = [json.loads(line) for line in (runs["root"] / "test.jsonl").read_text().splitlines()]
    assert sum(s["n"] for s in slices["source"].values()) == len(tests)
    assert set(slices["difficulty"]) == {row["tags"]["difficulty"] for row in tests}


def test_compare_shows_the_training_file_as_the_config_difference(runs: Dict[str, Path]) -> None:
    cmp = _cli(
        "compare-cmd", "--runs", f"{runs['a']},{runs['b']}", "--slice-by", "difficulty", "--format", "json"
    )
    assert cmp.exit_code == 0, cmp.output
    data = json.loads(cmp.output)
    assert data["task"] == "classification" and data["metric"] == "macro_f1"
    assert data["config_diff"]["data_paths.train"] == {
        runs["a"].name: "train_a.jsonl",
        runs["b"].name: "train_b.jsonl",
    }
    assert set(data["slices"]["difficulty"]) >= {"easy", "hard"}
    text = _cli("compare-cmd", "--runs", f"{runs['a']},{runs['b']}")
    assert text.exit_code == 0 and "data_paths.train:" in text.output


def test_reproduce_verify_only_passes(runs: Dict[str, Path]) -> None:
    ok = _cli("reproduce", "--run", str(runs["a"]), "--verify-only")
    assert ok.exit_code == 0, ok.output
    assert "Overall:          PASS" in ok.output


def test_full_reproduce_gives_byte_identical_weights(runs: Dict[str, Path]) -> None:
    """Run A came from another process and hash seed: equal bytes prove that saving is deterministic."""
    full = _cli("reproduce", "--run", str(runs["a"]), "--json")
    assert full.exit_code == 0, full.output
    report = json.loads(full.output[full.output.index("{") :])
    assert report["verdict"] == "PASS", report
    assert report["checks"]["weights"] == "PASS" and report["checks"]["eval_metrics"] == "PASS", report
    again = Path(report["new_run_path"])
    assert (again / WEIGHTS).read_bytes() == (runs["a"] / WEIGHTS).read_bytes()
