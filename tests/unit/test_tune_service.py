"""The tune use case on the shipped fakes (backend, store and the in-memory study engine): trials as
full runs, failures that do not stop the search, the checks made before any trial, resume, dead and
silent workers, and workers sharing one study. The Optuna engine has its own tests
(tests/adapters/test_optuna_study.py) and passes the same study conformance suite as the fake."""

from __future__ import annotations

import re
from pathlib import Path
from types import SimpleNamespace
from typing import Any, Dict, List, Tuple

import pytest
import yaml
from helpers.tune_lab import (
    ALL,
    GRID,
    Lab,
    combos,
    loss_of,
    make_config,
    results,
    resume_search,
    run,
    run_workers,
    write_data,
)

from verifily_core.config import TrainConfig
from verifily_core.domain.search import space_from_specs
from verifily_core.domain.tuning import STUDY_DB, TUNE_SPEC, TuneSettings, TuneSpec
from verifily_core.errors import TuneError
from verifily_core.ports.study import RUNNING, Trial
from verifily_core.services.tuning.tune import tune
from verifily_core.testing.study import StudyState

# ---------------------------------------------------------------------- grid, random, tpe


def test_grid_runs_every_combination_once_and_picks_the_minimum(tmp_path: Path) -> None:
    lab, config = Lab(tmp_path), make_config(tmp_path)
    report = run(lab, config)
    assert sorted(lab.trained) == ALL
    assert combos(report.trials) == ALL
    expected = {
        c: loss_of(config.apply_overrides({"training.learning_rate": c[0], "lora.r": c[1]})) for c in ALL
    }
    best = report.best
    assert (best.params["training.learning_rate"], best.params["lora.r"]) == min(expected, key=expected.get)
    assert best.score == pytest.approx(min(expected.values()))
    for trial in report.trials:  # every trial is a full run named after its trial number
        assert re.fullmatch(rf"run_\d{{8}}_tune_trial_{trial.number}", trial.run_id)
        meta = lab.store.read_json(trial.run_id, "run_meta.json")
        assert meta["status"] == "completed" and meta["metrics"]["eval_loss"] == pytest.approx(trial.score)
        frozen = yaml.safe_load(lab.store.read_text(trial.run_id, "config.yaml"))
        assert frozen["lora"]["r"] == trial.params["lora.r"]
        assert frozen["name"] == f"tune_trial_{trial.number}"
    assert report.as_dict() == {
        "run_id": best.run_id,
        "score": best.score,
        "params": best.params,
        "artifact_path": best.run_path,
        "tune_dir": report.tune_dir,
        "trials": 4,
    }
    assert list(best.params) == ["training.learning_rate", "lora.r"]  # the user's order


def test_tune_folder_holds_spec_results_and_study(tmp_path: Path) -> None:
    lab, config = Lab(tmp_path), make_config(tmp_path)
    report = run(lab, config)
    assert re.fullmatch(r"tune_\d{8}_\d{6}_[0-9a-f]{6}", report.tune_id)
    doc = results(lab, report.tune_id)
    assert [t["number"] for t in doc["trials"]] == [0, 1, 2, 3]
    assert doc["best"]["run_id"] == report.best.run_id and doc["finished"] is True
    assert doc["counts"]["completed"] == 4
    spec = TuneSpec.from_dict(lab.store.read_json(report.tune_id, TUNE_SPEC), where="spec")
    assert spec.params == {"training.learning_rate": [0.001, 0.005], "lora.r": [4, 8]}
    assert (spec.strategy, spec.metric, spec.direction) == ("grid", "eval_loss", "minimize")
    assert (spec.n_trials, spec.seed) == (4, 7)
    assert TrainConfig.from_dict(spec.base_config) == config
    study = lab.engine.state(Path(report.tune_dir) / STUDY_DB, spec.study_name)  # the folder's own study
    assert [t.number for t in study.trials] == [0, 1, 2, 3] and study.attrs["tune_id"] == report.tune_id
    assert lab.store.list_runs() and all(loc.run_id.startswith("run_") for loc in lab.store.list_runs())


def test_results_are_written_after_each_trial(tmp_path: Path) -> None:
    from verifily_core.services.tuning.tune import TuneCallbacks

    lab, config = Lab(tmp_path), make_config(tmp_path)
    seen: List[Tuple[int, int]] = []
    begun: List[str] = []

    def on_end(record: Any) -> None:
        doc = results(lab, begun[0])
        listed = {t["number"]: t["status"] for t in doc["trials"]}
        assert listed[record.number] == "completed"
        seen.append((record.number, sum(1 for s in listed.values() if s == "completed")))

    callbacks = TuneCallbacks(on_begin=lambda r: begun.append(r.tune_id), on_trial_end=on_end)
    tune(
        config,
        space_from_specs(GRID, config),
        TuneSettings(),
        store=lab.store,
        deps_factory=lab,
        engine=lab.engine,
        callbacks=callbacks,
    )
    assert [n for _, n in seen] == [1, 2, 3, 4]


def test_maximize_picks_the_highest_evaluation_metric(tmp_path: Path) -> None:
    def evaluate(store: Any, run_id: str, backend: Any) -> Any:
        frozen = yaml.safe_load(store.read_text(run_id, "config.yaml"))
        return SimpleNamespace(overall={"f1": frozen["lora"]["r"] / 10 - frozen["training"]["learning_rate"]})

    lab = Lab(tmp_path, evaluate=evaluate)
    config = make_config(tmp_path, test=write_data(tmp_path)["test"])
    report = run(lab, config, metric="f1", direction="maximize")
    assert report.best.params == {"training.learning_rate": 0.001, "lora.r": 8}
    assert report.best.score == pytest.approx(0.8 - 0.001)
    assert report.best.metrics["eval.f1"] == pytest.approx(report.best.score)


def test_random_samples_distinct_combinations_up_to_max_trials(tmp_path: Path) -> None:
    lab, config = Lab(tmp_path), make_config(tmp_path)
    report = run(lab, config, strategy="random", max_trials=3)
    picked = combos(report.trials)
    assert len(picked) == 3 == len(set(picked)) and set(picked) <= set(ALL)
    again = Lab(tmp_path / "again")
    assert combos(run(again, config, strategy="random", max_trials=3).trials) == picked  # seeded


def test_max_trials_is_capped_at_the_grid_size(tmp_path: Path) -> None:
    lab, config = Lab(tmp_path), make_config(tmp_path)
    report = run(lab, config, strategy="random", max_trials=50)
    assert combos(report.trials) == ALL and report.spec.n_trials == 4


def test_tpe_never_repeats_a_combination(tmp_path: Path) -> None:
    lab, config = Lab(tmp_path), make_config(tmp_path)
    report = run(lab, config, strategy="tpe", max_trials=4)
    assert combos(report.trials) == ALL
    assert sorted(lab.trained) == ALL


# ---------------------------------------------------------------------- failures


def test_a_failing_trial_is_recorded_and_the_search_goes_on(tmp_path: Path) -> None:
    lab, config = Lab(tmp_path, fail=4), make_config(tmp_path)
    report = run(lab, config)
    assert combos(report.trials) == [(0.001, 8), (0.005, 8)]
    failed = [t for t in report.trials if t.status == "failed"]
    assert len(failed) == 2 and all("CUDA out of memory" in (t.error or "") for t in failed)
    for t in failed:  # the failed run folder is found and says so
        assert t.run_id and lab.store.read_json(t.run_id, "run_meta.json")["status"] == "failed"
    assert report.best.params["lora.r"] == 8
    assert results(lab, report.tune_id)["counts"] == {
        "completed": 2,
        "failed": 2,
        "interrupted": 0,
        "running": 0,
        "queued": 0,
    }


def test_a_metric_that_no_trial_produces_fails_each_trial_clearly(tmp_path: Path) -> None:
    lab = Lab(tmp_path, evaluate=lambda store, run_id, backend: SimpleNamespace(overall={"exact_match": 0.5}))
    config = make_config(tmp_path, test=write_data(tmp_path)["test"])
    with pytest.raises(TuneError, match=r"No trial completed.*produced no f1 \(it has: .*exact_match"):
        run(lab, config, metric="f1", direction="maximize")
    assert len(lab.trained) == 4


@pytest.mark.parametrize(
    ("settings", "data", "expected"),
    [
        ({}, {"val": None}, r"eval_loss needs a validation set, but data_paths\.val is not set"),
        ({"strategy": "random"}, {}, r"--strategy random needs --max-trials"),
        ({"strategy": "tpe"}, {}, r"--strategy tpe needs --max-trials"),
        ({"strategy": "bayes"}, {}, r"Unknown strategy 'bayes'"),
        ({"direction": "down"}, {}, r"Unknown direction 'down'"),
        ({"max_trials": 0}, {}, r"--max-trials must be at least 1"),
        ({"metric": "accuracy"}, {}, r"Unknown metric 'accuracy' for task sft"),
        (
            {"metric": "f1"},
            {},
            r"--metric f1 comes from each trial's evaluation.*data_paths\.test is not set",
        ),
        ({"storage": "nosuchdb://x"}, {}, r"Cannot open the study storage nosuchdb://x"),
    ],
)
def test_bad_searches_fail_before_any_trial(
    tmp_path: Path, settings: Dict[str, Any], data: Dict[str, Any], expected: str
) -> None:
    lab, config = Lab(tmp_path), make_config(tmp_path, **data)
    with pytest.raises(TuneError, match=expected):
        run(lab, config, **settings)
    assert lab.trained == [] and lab.run_ids() == []


def test_a_missing_data_file_fails_before_any_trial(tmp_path: Path) -> None:
    from verifily_core.errors import DataError

    lab, config = Lab(tmp_path), make_config(tmp_path, train=str(tmp_path / "missing.jsonl"))
    with pytest.raises(DataError, match="missing.jsonl"):
        run(lab, config)
    assert lab.trained == [] and not lab.store.files


# ---------------------------------------------------------------------- resume


def test_an_interrupted_search_resumes_without_repeating_finished_trials(tmp_path: Path) -> None:
    lab, config = Lab(tmp_path, interrupt=8), make_config(tmp_path)
    with pytest.raises(KeyboardInterrupt):
        run(lab, config)
    tune_id = next(r for r in lab.store.files if r.startswith("tune_"))
    before = results(lab, tune_id)
    assert before["counts"]["interrupted"] == 1 and before["finished"] is False
    stopped = next(t for t in before["trials"] if t["status"] == "interrupted")
    assert stopped["error"] == "interrupted by the user (Ctrl-C)" and stopped["run_id"]
    done_before = [tuple(t["params"].values()) for t in before["trials"] if t["status"] == "completed"]
    lab.interrupt, lab.trained = None, []
    report = resume_search(lab, tune_id)
    assert combos(report.trials) == ALL  # one completed trial per combination
    assert sorted(lab.trained + done_before) == ALL  # finished trials were not trained again
    retry = next(t for t in report.trials if t.retry_of is not None)
    assert next(t for t in report.trials if t.number == retry.retry_of).status == "interrupted"
    assert resume_search(lab, tune_id).as_dict() == report.as_dict()  # nothing left


def killed_search(tmp_path: Path) -> Tuple[Lab, str, StudyState, Trial]:
    """A grid search whose worker (``worker-a``) "died" in its trial with lora.r 8: left running in
    the study."""
    lab, config = Lab(tmp_path, die=8), make_config(tmp_path)
    with pytest.raises(SystemExit):
        run(lab, config)
    tune_id = next(r for r in lab.store.files if r.startswith("tune_"))
    spec = TuneSpec.from_dict(lab.store.read_json(tune_id, TUNE_SPEC), where="spec")
    study = lab.engine.state(lab.store.local_dir(tune_id) / STUDY_DB, spec.study_name)
    (ghost,) = [t for t in study.trials if t.state == RUNNING]
    assert ghost.attrs["worker"] == "worker-a"
    lab.die, lab.trained = None, []
    return lab, tune_id, study, ghost


def test_a_trial_left_running_by_a_dead_worker_runs_again(tmp_path: Path) -> None:
    lab, tune_id, _, ghost = killed_search(tmp_path)
    done = combos(resume_report_before(lab, tune_id))
    lab.engine.worker, lab.engine.stopped = "worker-b", {"worker-a"}
    report = resume_search(lab, tune_id)
    assert {t.number: t.status for t in report.trials}[ghost.number] == "interrupted"
    error = next(t for t in report.trials if t.number == ghost.number).error
    assert error == "interrupted: its worker worker-a stopped"
    assert combos(report.trials) == ALL
    assert sorted(lab.trained + done) == ALL  # the ghost's values ran again, finished ones did not
    retry = next(t for t in report.trials if t.retry_of == ghost.number)
    assert retry.params == ghost.params and retry.worker == "worker-b"


def test_a_trial_of_a_silent_worker_runs_again(tmp_path: Path) -> None:
    """A worker on a lost machine: the engine releases its trial (no heartbeat), which runs again."""
    lab, tune_id, _, ghost = killed_search(tmp_path)
    lab.engine.worker, lab.engine.silent = "worker-b", {"worker-a"}
    report = resume_search(lab, tune_id)
    record = next(t for t in report.trials if t.number == ghost.number)
    assert record.status == "interrupted"
    assert record.error == "interrupted: its worker stopped sending heartbeats"
    assert combos(report.trials) == ALL and report.finished


def test_a_trial_of_a_live_worker_is_left_to_it(tmp_path: Path) -> None:
    lab, tune_id, _, ghost = killed_search(tmp_path)
    lab.engine.worker = "worker-b"  # worker-a lives on: nothing says otherwise
    report = resume_search(lab, tune_id)
    assert {t.number: t.status for t in report.trials}[ghost.number] == "running"
    assert (ghost.params["training.learning_rate"], ghost.params["lora.r"]) not in lab.trained
    assert len(combos(report.trials)) == 3 and not report.finished


def test_a_taken_trial_whose_worker_died_before_naming_itself_runs_again(tmp_path: Path) -> None:
    lab, tune_id, study, ghost = killed_search(tmp_path)
    with lab.engine.lock:
        orphan = study.take_queued()  # popped from the queue, running, no worker: its taker "died" at once
    planned = orphan.attrs["planned"]
    report = resume_search(lab, tune_id)  # worker-a again: nobody else ever joined the study
    records = {t.number: t for t in report.trials}
    assert records[orphan.number].status == "interrupted"
    assert records[orphan.number].error == "interrupted: its worker (unnamed) stopped"
    retry = next(t for t in report.trials if t.retry_of == orphan.number)
    assert retry.status == "completed" and retry.params == report.spec.plan[planned]
    assert records[ghost.number].status == "running"  # its worker is this very worker, alive


def resume_report_before(lab: Lab, tune_id: str) -> List[Any]:
    doc = results(lab, tune_id)
    return [SimpleNamespace(status=t["status"], params=t["params"]) for t in doc["trials"]]


def test_resume_refuses_a_folder_that_is_not_a_tune(tmp_path: Path) -> None:
    lab = Lab(tmp_path)
    run_id = lab.store.create_run("x").run_id
    with pytest.raises(TuneError, match="is not a tune folder"):
        resume_search(lab, run_id)


# ---------------------------------------------------------------------- several workers


def test_workers_on_one_study_split_the_trials_without_duplicates(tmp_path: Path) -> None:
    lab, config = Lab(tmp_path, delay=0.05), make_config(tmp_path)
    lab.engine.worker = None  # each thread is a worker of its own
    specs = ["training.learning_rate=0.001,0.002,0.005", "lora.r=4,8,16"]
    reports = run_workers(lab, config, specs, "memory://shared", timeout=60)
    assert len(lab.trained) == 9 == len(set(lab.trained))  # every combination trained exactly once
    assert len({r.tune_id for r in reports}) == 1  # one tune folder, named by the study's creator
    final = resume_search(lab, reports[0].tune_id)
    assert len(combos(final.trials)) == 9 == len(set(combos(final.trials)))
    assert len(lab.trained) == 9
    assert {t.worker for t in final.trials} <= {"worker-0", "worker-1", "worker-2"}


def test_a_worker_joining_a_finished_shared_study_runs_nothing(tmp_path: Path) -> None:
    lab, config = Lab(tmp_path), make_config(tmp_path)
    first = run(lab, config, storage="memory://shared")
    lab.trained = []
    second = run(lab, config, storage="memory://shared")
    assert lab.trained == []
    assert second.tune_id == first.tune_id and second.as_dict() == first.as_dict()
