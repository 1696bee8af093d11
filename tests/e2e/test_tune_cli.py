"""``verifily tune`` end to end on the tiny llama: a grid that picks the minimum, random search, a killed
search resumed, two worker processes on one SQLite study, the Python API, and bad specs refused with
exit 2 before any trial. Trials are kept to a couple of training steps each."""

from __future__ import annotations

import glob
import json
import os
import re
import signal
import subprocess
import sys
from pathlib import Path
from typing import Any, Dict, List, Tuple

import pytest
import yaml
from helpers.pause import ON_TRAIN_BEGIN, Pause
from helpers.runs import tiny_sft_config, tiny_workspace, write_config

LETTERS = "abcdefgh"
GRID = ["--param", "training.learning_rate=0.001,0.005", "--param", "lora.r=4,8"]
ALL = [(0.001, 4), (0.001, 8), (0.005, 4), (0.005, 8)]


def _rows(n: int) -> List[Dict[str, Any]]:
    rows = []
    for i in range(n):
        seq = [LETTERS[(i * 3 + k) % len(LETTERS)] for k in range(2 + i % 3)]
        rows.append(
            {"instruction": "Reverse the letters.", "input": " ".join(seq), "output": " ".join(reversed(seq))}
        )
    return rows


@pytest.fixture(scope="module")
def workspace(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tiny_workspace(tmp_path_factory.mktemp("tune"), train=_rows(16), val=_rows(4))


def tune_config(workspace: Path, folder: Path, *, val: bool = True) -> Path:
    config = tiny_sft_config(
        base_model=str(workspace / "tiny"),
        trackers=[],
        data_paths={
            "train": str(workspace / "train.jsonl"),
            "val": str(workspace / "val.jsonl") if val else None,
        },
        training={"logging_steps": 1, "eval_steps": 1000, "save_steps": 1000, "save_total_limit": 1},
        lora={"r": 8, "alpha": 16, "target_modules": "auto"},
        output={"dir": str(folder / "runs")},
    )
    return write_config(folder / "train.yaml", config)


def cli(*args: str) -> List[str]:
    return [sys.executable, "-m", "verifily_train", "tune", *args]


def env() -> Dict[str, str]:
    return {**os.environ, "HF_HUB_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1", "COLUMNS": "200"}


def tune(*args: str, cwd: Path, timeout: int = 600) -> subprocess.CompletedProcess[str]:
    return subprocess.run(cli(*args), cwd=cwd, env=env(), capture_output=True, text=True, timeout=timeout)


def trial_runs(runs: Path) -> Dict[str, Tuple[float, int]]:
    """Every trial run folder under ``runs`` and the values its frozen config holds."""
    found = {}
    for meta in glob.glob(f"{runs}/*/run_meta.json"):
        folder = Path(meta).parent
        frozen = yaml.safe_load((folder / "config.yaml").read_text())
        found[folder.name] = (float(frozen["training"]["learning_rate"]), int(frozen["lora"]["r"]))
    return found


def tune_results(runs: Path) -> Dict[str, Any]:
    (path,) = glob.glob(f"{runs}/tune_*/tune_results.json")
    return dict(json.loads(Path(path).read_text()))


def completed(doc: Dict[str, Any]) -> List[Tuple[float, int]]:
    return sorted(
        (t["params"]["training.learning_rate"], t["params"]["lora.r"])
        for t in doc["trials"]
        if t["status"] == "completed"
    )


@pytest.mark.slow
def test_grid_runs_every_combination_and_prints_the_best(workspace: Path, tmp_path: Path) -> None:
    config = tune_config(workspace, tmp_path)
    done = tune("--config", str(config), *GRID, "--metric", "eval_loss", cwd=tmp_path)
    assert done.returncode == 0, done.stderr[-3000:]
    runs = trial_runs(tmp_path / "runs")
    assert sorted(runs.values()) == ALL
    assert all(re.fullmatch(r"run_\d{8}_tune_trial_\d+", name) for name in runs)
    metas = {name: json.loads((tmp_path / "runs" / name / "run_meta.json").read_text()) for name in runs}
    losses = {name: meta["metrics"]["eval_loss"] for name, meta in metas.items()}
    best = min(losses, key=losses.__getitem__)
    block = re.search(
        r"Best trial: (\S+)\n  eval_loss: ([0-9.]+)\n  Params: (\{.*\})\n  Artifacts: (\S+)", done.stdout
    )
    assert block, done.stdout
    assert block.group(1) == best
    assert float(block.group(2)) == pytest.approx(losses[best], abs=1e-6)
    assert eval(block.group(3)) == dict(zip(["training.learning_rate", "lora.r"], runs[best]))  # noqa: S307
    assert block.group(4) == f"runs/{best}"
    doc = tune_results(tmp_path / "runs")
    assert completed(doc) == ALL and doc["best"]["run_id"] == best


@pytest.mark.slow
def test_random_search_runs_max_trials_distinct_combinations(workspace: Path, tmp_path: Path) -> None:
    config = tune_config(workspace, tmp_path)
    done = tune("--config", str(config), *GRID, "--strategy", "random", "--max-trials", "3", cwd=tmp_path)
    assert done.returncode == 0, done.stderr[-3000:]
    picked = list(trial_runs(tmp_path / "runs").values())
    assert len(picked) == 3 == len(set(picked)) and set(picked) <= set(ALL)


@pytest.mark.slow
def test_a_killed_search_resumes_and_runs_only_what_is_left(workspace: Path, tmp_path: Path) -> None:
    config = tune_config(workspace, tmp_path)
    runs = tmp_path / "runs"
    # killed as its second trial starts training: the process waits there, so it cannot finish first
    pause = Pause(tmp_path / "pause", at=ON_TRAIN_BEGIN, nth=2)
    proc = pause.start("tune", "--config", str(config), *GRID, cwd=tmp_path, env=env())
    try:
        pause.wait(proc)
    finally:
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait()
    before = tune_results(runs)
    finished = {t["number"]: t["run_id"] for t in before["trials"] if t["status"] == "completed"}
    assert finished and not before["finished"]
    (tune_dir,) = glob.glob(f"{runs}/tune_*")
    done = tune("--resume", tune_dir, cwd=tmp_path)
    assert done.returncode == 0, done.stderr[-3000:]
    after = tune_results(runs)
    assert completed(after) == ALL and after["finished"]
    again = {t["number"]: t["run_id"] for t in after["trials"] if t["status"] == "completed"}
    assert all(again[n] == run_id for n, run_id in finished.items())  # finished trials were kept, not re-run
    trained = [
        v
        for name, v in trial_runs(runs).items()
        if json.loads((runs / name / "run_meta.json").read_text())["status"] == "completed"
    ]
    assert sorted(trained) == ALL  # each combination trained to completion exactly once


@pytest.mark.slow
def test_two_workers_on_one_sqlite_study_split_the_trials(workspace: Path, tmp_path: Path) -> None:
    config = tune_config(workspace, tmp_path)
    storage = f"sqlite:///{tmp_path / 'shared.db'}"
    command = cli("--config", str(config), *GRID, "--storage", storage)
    workers = [
        subprocess.Popen(
            command, cwd=tmp_path, env=env(), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
        )
        for _ in range(2)
    ]
    outputs = [w.communicate(timeout=600) for w in workers]
    assert [w.returncode for w in workers] == [0, 0], [err[-2000:] for _, err in outputs]
    runs = trial_runs(tmp_path / "runs")
    assert sorted(runs.values()) == ALL  # every combination once, none twice
    doc = tune_results(tmp_path / "runs")  # both workers write into the one tune folder
    assert completed(doc) == ALL
    assert len({t["worker"] for t in doc["trials"]}) == 2  # both took a share


@pytest.mark.slow
def test_python_api_returns_the_best_trial(workspace: Path, tmp_path: Path) -> None:
    from verifily_train.tuner import run_tuning

    config = tune_config(workspace, tmp_path)
    best = run_tuning(
        config_path=str(config),
        param_grid={"training.learning_rate": [0.005], "lora.r": [4]},
        strategy="grid",
        max_trials=None,
        metric="eval_loss",
    )
    assert best["params"] == {"training.learning_rate": 0.005, "lora.r": 4}
    meta = json.loads((Path(best["artifact_path"]) / "run_meta.json").read_text())
    assert meta["run_id"] == best["run_id"] and meta["metrics"]["eval_loss"] == pytest.approx(best["score"])
    assert best["trials"] == 1 and Path(best["tune_dir"], "tune_results.json").is_file()


@pytest.mark.parametrize(
    ("args", "val", "expected"),
    [
        (
            ["--param", "training.learnin_rate=0.001,0.005"],
            True,
            r"learnin_rate.*Did you mean 'training\.learning_rate'",
        ),
        (["--param", "lora.r=abc,4"], True, r"'abc' is not a valid value for 'lora\.r'"),
        (
            ["--param", "lora.r=4,8"],
            False,
            r"eval_loss needs a validation set, but data_paths\.val is not set",
        ),
        (["--param", "lora.r=4,8", "--strategy", "random"], True, r"needs --max-trials"),
        (["--param", "lora.r=4,8", "--metric", "bleu"], True, r"Unknown metric 'bleu'"),
        (["--param", "lora.r"], True, r"expected \"dotted\.key=value1,value2"),
        ([], True, r"Nothing to search"),
    ],
)
def test_bad_specs_exit_2_before_any_trial(
    workspace: Path, tmp_path: Path, args: List[str], val: bool, expected: str
) -> None:
    config = tune_config(workspace, tmp_path, val=val)
    done = tune("--config", str(config), *args, cwd=tmp_path)
    output = done.stdout + done.stderr
    assert done.returncode == 2, output
    assert re.search(expected, output), output
    assert "Traceback" not in output
    assert not (tmp_path / "runs").exists() or not trial_runs(tmp_path / "runs")


def test_resume_rejects_search_flags_and_unknown_folders(tmp_path: Path) -> None:
    done = tune("--resume", str(tmp_path / "nope"), cwd=tmp_path)
    assert done.returncode == 2 and "Tune folder not found" in done.stderr
    done = tune("--resume", str(tmp_path), "--param", "lora.r=4", cwd=tmp_path)
    assert done.returncode == 2 and "takes no --param" in done.stderr and "Traceback" not in done.stderr
