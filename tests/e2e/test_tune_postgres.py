"""``verifily tune --storage postgresql://...`` against a real PostgreSQL server (tests/helpers/servers.py),
also with the runs in a bucket (moto, tests/s3_server.py).

Workers are separate ``verifily tune`` processes in separate working folders, as on separate
machines; trials use the example sklearn backend (a fraction of a second each), since what is under
test is the shared study, not training. Checked: no trial runs twice, a killed worker's trial is
queued again and run by another worker, and the scores equal a SQLite study's over the same grid.
"""

from __future__ import annotations

import glob
import json
import os
import signal
import subprocess
import sys
from pathlib import Path
from typing import Any, Dict, Iterator, List, Optional, Tuple

import pytest
import yaml
from helpers.pause import Pause
from helpers.servers import PostgresServer, postgres_bin

pytest.importorskip("psycopg")
pytest.importorskip("verifily_sklearn")
pytestmark = [pytest.mark.slow, pytest.mark.timeout(300)]
GRID = ["--param", "seed=1,2", "--param", "training.learning_rate=0.001,0.002"]
ALL = [(1, 0.001), (1, 0.002), (2, 0.001), (2, 0.002)]
Combination = Tuple[int, float]


@pytest.fixture(scope="module")
def postgres() -> Iterator[PostgresServer]:
    found = postgres_bin()
    if found is None:
        pytest.skip("no PostgreSQL server binaries: run `bash scripts/ensure_test_packages.sh`")
    server = PostgresServer(found).start()
    yield server
    server.stop()


@pytest.fixture(scope="module")
def data(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("tune-pg-data")
    words = {"positive": ["great", "lovely", "superb"], "negative": ["awful", "dull", "broken"]}
    for split, n in (("train", 24), ("val", 8)):
        rows = [
            {"text": f"the {t} was {words[label][i % 3]}", "label": label}
            for i in range(n)
            for label, t in [(("positive", "negative")[i % 2], ("meal", "book", "film")[i % 3])]
        ]
        (root / f"{split}.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    return root


def worker_folder(data: Path, folder: Path, output: str = "runs") -> Path:
    """A working folder with its own config and runs folder (or a shared bucket URL as ``output``)
    and store cache: a stand-in for another machine."""
    folder.mkdir(parents=True)
    config = {
        "task": "classification",
        "backend": "sklearn",
        "base_model": "tfidf-logreg",
        "data_paths": {"train": str(data / "train.jsonl"), "val": str(data / "val.jsonl")},
        "output": {"dir": output},
    }
    (folder / "cls.yaml").write_text(yaml.safe_dump(config), encoding="utf-8")
    return folder


def _env(folder: Path) -> Dict[str, str]:
    return {**os.environ, "COLUMNS": "200", "VERIFILY_STORE_CACHE": str(folder / ".cache")}


def start(folder: Path, storage: Optional[str]) -> subprocess.Popen[str]:
    command = [sys.executable, "-m", "verifily_train", "tune", "--config", "cls.yaml", *GRID]
    command += ["--storage", storage] if storage else []
    log = (folder / "tune.log").open("w")
    return subprocess.Popen(
        command, cwd=folder, env=_env(folder), stdout=log, stderr=subprocess.STDOUT, text=True
    )


def finish(proc: subprocess.Popen[str], folder: Path) -> None:
    assert proc.wait(timeout=240) == 0, (folder / "tune.log").read_text()[-3000:]


def trial_runs(folders: List[Path]) -> Dict[str, List[Tuple[Combination, Optional[float]]]]:
    """Trial run folders by status: (seed, learning rate) of each, and its eval_loss."""
    found: Dict[str, List[Tuple[Combination, Optional[float]]]] = {}
    for folder in folders:
        for meta in glob.glob(f"{folder}/runs/*/run_meta.json"):
            run = Path(meta).parent
            if "trial" not in run.name:
                continue
            cfg = yaml.safe_load((run / "config.yaml").read_text())
            key = (int(cfg["seed"]), float(cfg["training"]["learning_rate"]))
            summary = run / "train_summary.json"
            loss = json.loads(summary.read_text())["eval_loss"] if summary.exists() else None
            status = json.loads(Path(meta).read_text())["status"]
            found.setdefault(status, []).append((key, loss))
    return found


def trial_states(url: str) -> List[str]:
    import psycopg

    with psycopg.connect(url) as conn:
        return [row[0] for row in conn.execute("SELECT state FROM trials ORDER BY number")]


def test_two_workers_share_the_study_and_match_sqlite(
    postgres: PostgresServer, data: Path, tmp_path: Path
) -> None:
    url = postgres.database()
    folders = [worker_folder(data, tmp_path / f"worker{i}") for i in (0, 1)]
    workers = [start(folder, url) for folder in folders]
    for proc, folder in zip(workers, folders):
        finish(proc, folder)
    runs = trial_runs(folders)
    assert set(runs) == {"completed"}, runs
    assert sorted(key for key, _ in runs["completed"]) == ALL  # every combination once, none twice
    assert_four_complete(url)
    alone = worker_folder(data, tmp_path / "sqlite")
    proc = start(alone, None)
    finish(proc, alone)
    assert sorted(trial_runs([alone])["completed"]) == sorted(runs["completed"])  # same scores


def test_a_killed_workers_trial_is_queued_again(postgres: PostgresServer, data: Path, tmp_path: Path) -> None:
    url = postgres.database()
    first, second = worker_folder(data, tmp_path / "first"), worker_folder(data, tmp_path / "second")
    # the victim stops right after its first trial's training, before the trial is told: it waits
    # there (RUNNING in the study), and is killed as a machine that dies
    pause = Pause(first / "pause", at="verifily_sklearn.backend:SklearnBackend.train")
    victim = pause.start("tune", "--config", "cls.yaml", *GRID, "--storage", url, cwd=first, env=_env(first))
    try:
        pause.wait(victim, timeout=120)
        assert "RUNNING" in trial_states(url)
    finally:
        os.kill(victim.pid, signal.SIGKILL)
        victim.wait()
    finish(start(second, url), second)
    runs = trial_runs([first, second])
    assert sorted(key for key, _ in runs["completed"]) == ALL  # the killed trial ran again, once
    results = json.loads(next((second / "runs").glob("tune_*/tune_results.json")).read_text())
    interrupted = [t for t in results["trials"] if t["status"] == "interrupted"]
    assert len(interrupted) == 1 and "its worker" in interrupted[0]["error"]
    retry = [t for t in results["trials"] if t.get("retry_of") == interrupted[0]["number"]]
    assert len(retry) == 1 and retry[0]["status"] == "completed"
    assert retry[0]["params"] == interrupted[0]["params"]


def test_workers_with_their_runs_in_a_bucket(
    postgres: PostgresServer, s3_server: Any, data: Path, tmp_path: Path
) -> None:
    url, bucket = postgres.database(), s3_server.bucket()
    folders = [worker_folder(data, tmp_path / f"machine{i}", f"s3://{bucket}/tune") for i in (0, 1)]
    workers = [start(folder, url) for folder in folders]
    for proc, folder in zip(workers, folders):
        finish(proc, folder)
    listed = [o["Key"] for o in s3_server.client().list_objects_v2(Bucket=bucket, Prefix="tune/")["Contents"]]
    trials = sorted(k.split("/")[1] for k in listed if k.endswith("/run_meta.json") and "_trial_" in k)
    assert len(trials) == 4 and len(set(trials)) == 4  # every combination once, in the bucket
    assert len([k for k in listed if k.endswith("/tune_spec.json")]) == 1  # the workers share one tune folder
    assert_four_complete(url)


def assert_four_complete(url: str) -> None:
    """4 complete trials in the study; anything else is a PRUNED one (a worker that found the queue
    empty proposed a combination already taken, and skipped it: no training)."""
    states = trial_states(url)
    assert states.count("COMPLETE") == 4 and set(states) <= {"COMPLETE", "PRUNED"}, states
