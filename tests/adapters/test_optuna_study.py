"""The Optuna study engine under the tune use case (scripted trials, real Optuna on SQLite): the tune
folder's ``study.db``, storage errors without passwords, workers whose process died (a real dead
pid), a trial taken by a worker that died at once, threads sharing one SQLite study, and heartbeats
(a worker on a lost machine). The engine's port contract itself is checked by
tests/conformance/test_study_conformance.py."""

from __future__ import annotations

import os
import re
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any, List, Tuple

import optuna
import pytest
from helpers.tune_lab import ALL, Lab, combos, make_config, results, resume_search, run, run_workers

from verifily_adapters.optuna_study import storage as storage_module
from verifily_adapters.optuna_study import study as study_module
from verifily_adapters.optuna_study.storage import redact
from verifily_adapters.optuna_study.study import OptunaStudyEngine
from verifily_adapters.optuna_study.workers import dead_here, worker_id
from verifily_core.domain.search import SearchParam, SearchSpace
from verifily_core.domain.tuning import STUDY_DB, TUNE_SPEC, TuneSpec
from verifily_core.errors import TuneError
from verifily_core.ports.study import FAILED, RUNNING, StudySettings

pytestmark = pytest.mark.timeout(180)


def optuna_lab(tmp_path: Path, **kwargs: Any) -> Lab:
    return Lab(tmp_path, engine=OptunaStudyEngine(), **kwargs)


def open_optuna_study(lab: Lab, tune_id: str) -> Any:
    """The tune folder's study as Optuna itself reads it (what an earlier release wrote, too)."""
    spec = TuneSpec.from_dict(lab.store.read_json(tune_id, TUNE_SPEC), where="spec")
    storage = f"sqlite:///{lab.store.local_dir(tune_id) / STUDY_DB}"
    return optuna.load_study(study_name=spec.study_name, storage=storage)


def dead_pid() -> int:
    done = subprocess.run(
        [sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True
    )
    return int(done.stdout)


def test_a_grid_lives_in_the_tune_folders_sqlite_study_and_prints_nothing(
    tmp_path: Path, capfd: pytest.CaptureFixture[str]
) -> None:
    verbosity = optuna.logging.get_verbosity()
    lab, config = optuna_lab(tmp_path), make_config(tmp_path)
    report = run(lab, config)
    assert combos(report.trials) == ALL and report.best is not None
    assert capfd.readouterr().err == ""  # neither Optuna's log nor its warnings
    assert optuna.logging.get_verbosity() == verbosity  # restored when the study closed
    study = open_optuna_study(lab, report.tune_id)
    assert study.user_attrs["tune_id"] == report.tune_id
    assert any(k.startswith("worker:") for k in study.user_attrs)
    by_number = {t.number: t for t in study.get_trials()}
    for record in report.trials:
        frozen = by_number[record.number]
        assert frozen.state == optuna.trial.TrialState.COMPLETE and frozen.value == pytest.approx(
            record.score
        )
        assert frozen.params == record.params and frozen.user_attrs["run_id"] == record.run_id
        assert frozen.user_attrs["worker"] == worker_id() and "planned" in frozen.user_attrs


@pytest.mark.parametrize(
    ("storage", "shown"),
    [("nosuchdb://x", "nosuchdb://x"), ("nosuchdb://alice:s3cret@db.example/tune", "alice:***@db.example")],
)
def test_a_storage_that_cannot_open_fails_before_any_trial_without_its_password(
    tmp_path: Path, storage: str, shown: str
) -> None:
    lab, config = optuna_lab(tmp_path), make_config(tmp_path)
    with pytest.raises(TuneError, match="Cannot open the study storage") as info:
        run(lab, config, storage=storage)
    assert shown in info.value.message and "s3cret" not in info.value.message
    assert lab.trained == [] and lab.run_ids() == []


def test_redact_hides_only_the_password() -> None:
    assert redact("postgresql://tuner:pw@db:5432/v") == "postgresql://tuner:***@db:5432/v"
    assert redact("postgresql://tuner@db/v") == "postgresql://tuner@db/v"
    assert redact("sqlite:///runs/study.db") == "sqlite:///runs/study.db"


def killed_search(tmp_path: Path) -> Tuple[Lab, str, Any, Any]:
    """A grid search whose worker "died" (SystemExit) in its trial with lora.r 8: RUNNING in study.db."""
    lab, config = optuna_lab(tmp_path, die=8), make_config(tmp_path)
    with pytest.raises(SystemExit):
        run(lab, config)
    tune_id = next(r for r in lab.store.files if r.startswith("tune_"))
    study = open_optuna_study(lab, tune_id)
    (ghost,) = study.get_trials(states=(optuna.trial.TrialState.RUNNING,))
    lab.die, lab.trained = None, []
    return lab, tune_id, study, ghost


def test_a_trial_whose_worker_process_is_gone_runs_again(tmp_path: Path) -> None:
    lab, tune_id, optuna_study, ghost = killed_search(tmp_path)
    done = [
        tuple(t["params"].values()) for t in results(lab, tune_id)["trials"] if t["status"] == "completed"
    ]
    pid = dead_pid()
    host = ghost.user_attrs["worker"].rpartition(":")[0]
    trial_id = optuna_study._storage.get_trial_id_from_study_id_trial_number(
        optuna_study._study_id, ghost.number
    )
    optuna_study._storage.set_trial_user_attr(trial_id, "worker", f"{host}:{pid}")
    report = resume_search(lab, tune_id)
    record = next(t for t in report.trials if t.number == ghost.number)
    assert record.status == "interrupted" and record.error == f"interrupted: its worker {host}:{pid} stopped"
    assert combos(report.trials) == ALL
    assert sorted(lab.trained + done) == ALL  # the ghost's values ran again, finished ones did not


def test_a_trial_of_this_live_process_is_left_to_it(tmp_path: Path) -> None:
    lab, tune_id, _, ghost = killed_search(tmp_path)
    report = resume_search(lab, tune_id)
    assert {t.number: t.status for t in report.trials}[ghost.number] == "running"
    assert len(combos(report.trials)) == 3 and not report.finished


def test_a_taken_trial_whose_worker_died_before_naming_itself_runs_again(tmp_path: Path) -> None:
    lab, tune_id, optuna_study, _ = killed_search(tmp_path)
    orphan = optuna_study.ask()  # popped from the queue, RUNNING, no worker attr: its taker "died" at once
    report = resume_search(lab, tune_id)
    records = {t.number: t for t in report.trials}
    assert records[orphan.number].status == "interrupted"
    retry = next(t for t in report.trials if t.retry_of == orphan.number)
    assert retry.status == "completed" and retry.params == report.spec.plan[orphan.user_attrs["planned"]]


def test_threads_sharing_one_sqlite_study_split_the_trials(tmp_path: Path) -> None:
    lab, config = optuna_lab(tmp_path, delay=0.05), make_config(tmp_path)
    specs = ["training.learning_rate=0.001,0.002,0.005", "lora.r=4,8,16"]
    storage = f"sqlite:///{tmp_path / 'shared.db'}"
    reports = run_workers(lab, config, specs, storage, timeout=120)
    assert len(lab.trained) == 9 == len(set(lab.trained))  # every combination trained exactly once
    final = resume_search(lab, reports[0].tune_id)
    assert len(combos(final.trials)) == 9 and len(lab.trained) == 9
    assert len({t.worker for t in final.trials}) > 1  # the threads are workers of their own


def test_worker_ids_and_liveness_by_process() -> None:
    me = worker_id()
    assert re.fullmatch(r".+:\d+", me) and me.endswith(f":{os.getpid()}")
    host = me.rpartition(":")[0]
    assert dead_here(me) is False
    assert dead_here(f"{host}:{dead_pid()}") is True
    assert dead_here(f"another-{host}:{dead_pid()}") is False  # another machine: heartbeats decide
    seen: List[str] = []
    thread = threading.Thread(target=lambda: seen.append(worker_id()))
    thread.start()
    thread.join()
    assert seen[0].startswith(f"{me}/") and dead_here(seen[0]) is False


def test_heartbeats_keep_a_trial_and_silence_releases_it(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A lost machine, sped up (a 1 s beat, a 2 s grace): a trial whose worker beats is never
    released; once its beats stop (the worker closed without finishing it), another worker
    releases it as failed without an error, which the tune rules read as interrupted."""
    monkeypatch.setattr(storage_module, "HEARTBEAT_S", 1)
    monkeypatch.setattr(storage_module, "GRACE_S", 2)
    monkeypatch.setattr(study_module, "HEARTBEAT_S", 1)
    engine, settings = OptunaStudyEngine(), StudySettings("beats", "minimize", "grid", 7)
    lost = engine.open_study(tmp_path / STUDY_DB, settings, create=True)
    other = engine.open_study(tmp_path / STUDY_DB, settings, create=False)
    try:
        lost.enqueue({"lora.r": 4}, {"planned": 0})
        number = lost.ask(SearchSpace((SearchParam("lora.r", (4, 8)),))).number
        time.sleep(3.5)
        assert other.release_silent() == []  # beating: alive
        lost.close()  # the machine is gone: no more beats, the trial still RUNNING
        assert other.trials()[number].state == RUNNING
        time.sleep(3.5)
        assert other.release_silent() == [number]
        (trial,) = other.trials()
        assert trial.state == FAILED and "error" not in trial.attrs
    finally:
        lost.close()
        other.close()
