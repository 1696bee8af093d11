"""A run folder as hostile input: no code runs from it, nothing is read or written outside it.

The runs here come from the sklearn example plugin (a real backend that trains in well under a
second): a swapped pickle is never executed, tampered predictions are never laundered into sealed
metrics, ``eval-cmd`` never writes through an ``eval/`` symlink, the dashboard's data layer never
shows a file that a symlink brings in from outside, a FIFO never hangs a reader, and the full
``reproduce`` refuses a tampered original before it re-trains. Signing survives a re-evaluation when
the key is at hand, and says so when it is not.
"""

from __future__ import annotations

import json
import os
import pickle
import random
import shutil
import time
from pathlib import Path
from typing import Any, Dict, List

import pytest
import yaml
from helpers.data import write_jsonl
from typer.testing import CliRunner

from verifily_adapters.local_store.store import LocalArtifactStore
from verifily_cli.app import app
from verifily_cli.dashboard import data as dashboard
from verifily_cli.dashboard.detail import run_detail
from verifily_core.domain.manifest import scan_run
from verifily_core.domain.provenance import generate_key_pair
from verifily_core.errors import UnsafePathError

runner = CliRunner()
SECRET = "TOP-SECRET-OUTSIDE-THE-RUNS-FOLDER"


class Marker:
    """A pickle that, when loaded, creates a file: proof that loading ran code."""

    def __init__(self, path: Path) -> None:
        self.path = path

    def __reduce__(self) -> Any:
        return (Path.touch, (self.path,))


def _rows(n: int, seed: int) -> List[Dict[str, Any]]:
    rng = random.Random(seed)
    words = {"positive": ["great", "lovely", "superb"], "negative": ["awful", "broken", "dull"]}
    return [
        {"text": f"The thing is {rng.choice(words[label])}.", "label": label, "tags": {"n": str(i % 2)}}
        for i, label in enumerate(("positive", "negative") * (n // 2))
    ]


def _cli(*args: str, env: Dict[str, str] | None = None) -> Any:
    result = runner.invoke(app, list(args), env=env or {})
    assert "Traceback" not in result.output, result.output
    return result


@pytest.fixture(scope="module")
def original(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One signed sklearn run, trained and evaluated; tests work on copies of it."""
    root = tmp_path_factory.mktemp("security")
    write_jsonl(root / "train.jsonl", _rows(40, 1))
    write_jsonl(root / "test.jsonl", _rows(12, 2))
    write_jsonl(root / "other.jsonl", _rows(8, 3))
    private, public = generate_key_pair()
    (root / "key.pem").write_bytes(private)
    (root / "key.pub.pem").write_bytes(public)
    config = {
        "task": "classification",
        "backend": "sklearn",
        "base_model": "tfidf-logreg",
        "seed": 3,
        "name": "sec",
        "data_paths": {"train": "train.jsonl", "test": "test.jsonl"},
        "output": {"dir": "runs"},
    }
    (root / "train.yaml").write_text(yaml.safe_dump(config), encoding="utf-8")
    done = _cli(
        "train", "--config", str(root / "train.yaml"), env={"VERIFILY_SIGNING_KEY": str(root / "key.pem")}
    )
    assert done.exit_code == 0, done.output
    return next((root / "runs").iterdir())


@pytest.fixture()
def run(original: Path, tmp_path: Path) -> Path:
    copy = tmp_path / "runs" / original.name
    shutil.copytree(original, copy)
    return copy


def _reseal(run: Path) -> None:
    hashes = json.loads((run / "hashes.json").read_text(encoding="utf-8"))
    hashes["artifacts"], problems = scan_run(run)
    assert not problems
    (run / "hashes.json").write_text(json.dumps(hashes), encoding="utf-8")


def _verify(run: Path, *extra: str) -> Dict[str, Any]:
    result = _cli("reproduce", "--run", str(run), "--verify-only", "--json", *extra)
    return dict(json.loads(result.stdout))


# ---------------------------------------------------------------------- no code runs from a run folder


@pytest.mark.timeout(120)
def test_a_swapped_pickle_is_refused_before_anything_is_loaded(run: Path, tmp_path: Path) -> None:
    marker = tmp_path / "pwned"
    (run / "model" / "pipeline.json").write_bytes(pickle.dumps(Marker(marker)))
    (run / "model" / "pipeline.joblib").write_bytes(pickle.dumps(Marker(marker)))
    result = _cli("eval-cmd", "--run", str(run))
    assert result.exit_code == 1, result.output
    assert "does not match its seal" in result.output
    assert "file changed: model/pipeline.json" in result.output
    assert "model/pipeline.joblib" in result.output
    assert not marker.exists(), "loading the run executed code"


@pytest.mark.timeout(120)
def test_even_a_consistently_forged_pickle_never_runs(run: Path, tmp_path: Path) -> None:
    """Unsigned, a forger can re-seal; the plugin still only reads JSON numbers, never a pickle."""
    marker = tmp_path / "pwned"
    (run / "model" / "pipeline.joblib").write_bytes(pickle.dumps(Marker(marker)))
    (run / "provenance.intoto.jsonl").unlink()
    _reseal(run)
    result = _cli("eval-cmd", "--run", str(run))
    assert result.exit_code == 0, result.output
    assert not marker.exists(), "the sklearn plugin loaded a pickle"
    (run / "model" / "pipeline.json").write_bytes(pickle.dumps(Marker(marker)))
    _reseal(run)
    other = (
        Path(json.loads((run / "training_info.json").read_text())["data_files"]["test"]).parent
        / "other.jsonl"
    )
    refused = _cli("eval-cmd", "--run", str(run), "--test-data", str(other))  # new data: the model loads
    assert refused.exit_code == 2 and "Cannot load the sklearn model" in refused.output
    assert not marker.exists()


# ---------------------------------------------------------------------- no laundering, no writes outside


@pytest.mark.timeout(120)
def test_tampered_predictions_are_never_turned_into_sealed_metrics(run: Path) -> None:
    seal = (run / "hashes.json").read_bytes()
    predictions = run / "eval" / "predictions.jsonl"
    rows = [json.loads(line) for line in predictions.read_text(encoding="utf-8").splitlines()]
    for row in rows:
        row["prediction"] = "positive"  # a metric someone would rather show
    write_jsonl(predictions, rows)
    result = _cli("eval-cmd", "--run", str(run), "--from-predictions")
    assert result.exit_code == 1 and "file changed: eval/predictions.jsonl" in result.output
    assert (run / "hashes.json").read_bytes() == seal, "the seal was rewritten"
    assert _verify(run)["verdict"] == "FAIL"


@pytest.mark.timeout(120)
def test_eval_cmd_never_writes_through_an_eval_symlink(run: Path, tmp_path: Path) -> None:
    outside = tmp_path / "outside_eval"
    shutil.move(str(run / "eval"), outside)
    (run / "eval").symlink_to(outside)
    before = {p.name: p.stat().st_mtime_ns for p in outside.iterdir()}
    result = _cli("eval-cmd", "--run", str(run))
    assert result.exit_code == 1, result.output
    assert "symlink leaving the folder" in result.output and "eval" in result.output
    assert {p.name: p.stat().st_mtime_ns for p in outside.iterdir()} == before
    store = LocalArtifactStore(run.parent)
    with pytest.raises(UnsafePathError, match="leads outside"):
        store.write_text(run.name, "eval/eval_results.json", "{}")
    with pytest.raises(UnsafePathError):
        store.read_text(run.name, "../../etc/passwd")


@pytest.mark.timeout(300)
def test_full_reproduce_refuses_a_tampered_original_before_retraining(run: Path) -> None:
    weights = run / "model" / "pipeline.json"
    weights.write_text(weights.read_text(encoding="utf-8").replace("0.", "0.5", 1), encoding="utf-8")
    result = _cli("reproduce", "--run", str(run))
    assert result.exit_code == 1 and "file changed: model/pipeline.json" in result.output
    assert [p.name for p in run.parent.iterdir()] == [run.name], "a re-run was started anyway"


# ---------------------------------------------------------------------- the dashboard's data layer


@pytest.mark.timeout(60)
def test_the_dashboard_never_shows_files_that_symlinks_bring_in(run: Path, tmp_path: Path) -> None:
    secret_meta = tmp_path / "secret_meta.json"
    secret_meta.write_text(json.dumps({"status": "completed", "task": SECRET, "base_model": SECRET}))
    secret_rows = tmp_path / "secret.jsonl"
    write_jsonl(secret_rows, [{"rank": 1, "input": SECRET, "prediction": SECRET, "reference": SECRET}])
    (run / "run_meta.json").unlink()
    (run / "run_meta.json").symlink_to(secret_meta)
    (run / "eval" / "hard_examples.jsonl").unlink()
    (run / "eval" / "hard_examples.jsonl").symlink_to(secret_rows)
    store = LocalArtifactStore(run.parent)
    shown = json.dumps([row.cells() for row in dashboard.run_rows(store)], default=str)
    shown += json.dumps(dashboard.hard_examples(store, run.name), default=str)
    shown += json.dumps(run_detail(store, run.name).__dict__, default=str)
    assert SECRET not in shown
    assert _verify(run)["verdict"] == "FAIL"


@pytest.mark.timeout(60)
def test_a_fifo_in_a_run_folder_never_hangs_a_reader(run: Path) -> None:
    (run / "train_summary.json").unlink()
    os.mkfifo(run / "train_summary.json")
    (run / "eval" / "eval_results.json").unlink()
    os.mkfifo(run / "eval" / "eval_results.json")
    store = LocalArtifactStore(run.parent)
    started = time.monotonic()
    rows = dashboard.run_rows(store)
    run_detail(store, run.name)
    report = _verify(run)
    assert time.monotonic() - started < 30
    assert rows and report["verdict"] == "FAIL"
    assert any("FIFO" in line and "eval/eval_results.json" in line for line in report["details"])


# ---------------------------------------------------------------------- signatures across a re-evaluation


@pytest.mark.timeout(300)
def test_a_re_evaluation_keeps_the_signature_with_the_key_and_says_so_without(run: Path) -> None:
    # the keys and data lie beside the original run, where training_info.json points
    original_root = Path(json.loads((run / "training_info.json").read_text())["data_files"]["test"]).parent
    private, public = original_root / "key.pem", original_root / "key.pub.pem"
    assert _verify(run, "--key", str(public))["verdict"] == "PASS"
    other = str(original_root / "other.jsonl")
    signed = _cli(
        "eval-cmd", "--run", str(run), "--test-data", other, env={"VERIFILY_SIGNING_KEY": str(private)}
    )
    assert signed.exit_code == 0, signed.output
    assert _verify(run, "--key", str(public))["verdict"] == "PASS"
    unsigned = _cli("eval-cmd", "--run", str(run), "--test-data", other, "--name", "again")
    assert unsigned.exit_code == 0, unsigned.output
    stale = _verify(run, "--key", str(public))
    assert stale["verdict"] == "FAIL" and "hashes.json changed after the run was signed" in stale["details"]
    resigned = _cli("sign", "--run", str(run), "--key", str(private))
    assert resigned.exit_code == 0, resigned.output
    assert _verify(run, "--key", str(public))["verdict"] == "PASS"
