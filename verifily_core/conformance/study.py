"""The study engine suite: the claims ``verifily tune`` builds on (see ``verifily_core/ports/study.py``).

What matters most is checked with real concurrency: workers in threads, each with its own study,
never take the same queued trial, since that is what lets several workers split a grid.
"""

from __future__ import annotations

import threading
from pathlib import Path
from typing import Any, Dict, List, Union

import pytest

from verifily_core.conformance.imports import HooksAreLight
from verifily_core.domain.search import SearchParam, SearchSpace
from verifily_core.errors import TuneError
from verifily_core.ports.study import (
    COMPLETED,
    FAILED,
    QUEUED,
    RUNNING,
    SKIPPED,
    Study,
    StudyEngine,
    StudySettings,
)

SPACE = SearchSpace((SearchParam("lora.r", (4, 8, 16)), SearchParam("training.learning_rate", (0.001, 0.01))))


class StudyEngineConformance(HooksAreLight):
    """The study engine contract; override ``engine_class`` (and ``location`` for a URL of yours)."""

    @pytest.fixture
    def engine_class(self) -> type:
        raise NotImplementedError("override the `engine_class` fixture to return your engine class")

    @pytest.fixture
    def engine(self, engine_class: type[StudyEngine]) -> StudyEngine:
        assert isinstance(engine_class.PLUGIN_NAME, str) and engine_class.PLUGIN_NAME
        return engine_class()

    @pytest.fixture
    def location(self, tmp_path: Path) -> Union[str, Path]:
        """Where the studies of a test live: by default a file of a tune folder."""
        return tmp_path / "study.db"

    @pytest.fixture
    def settings(self) -> StudySettings:
        return StudySettings("conformance", "minimize", "grid", seed=7)

    @pytest.fixture
    def study(self, engine: StudyEngine, location: Union[str, Path], settings: StudySettings) -> Any:
        study = engine.open_study(location, settings, create=True)
        yield study
        study.close()

    def test_the_first_open_creates_and_the_next_ones_join(
        self, engine: StudyEngine, location: Union[str, Path], settings: StudySettings, study: Study
    ) -> None:
        assert study.created is True
        other = engine.open_study(location, settings, create=True)
        again = engine.open_study(location, settings, create=False)
        try:
            assert (other.created, again.created) == (False, False)
            study.set_attr("tune_id", "tune_1")
            study.set_attr("worker:a", {"seen": 1})
            assert again.attrs() == {"tune_id": "tune_1", "worker:a": {"seen": 1}}
        finally:
            other.close()
            again.close()
        study.close()
        study.close()  # closing twice is harmless

    def test_a_missing_study_is_a_tune_error_naming_the_location(
        self, engine: StudyEngine, location: Union[str, Path], settings: StudySettings, study: Study
    ) -> None:
        missing = StudySettings("no-such-study", "minimize", "grid", seed=7)
        with pytest.raises(TuneError, match="no-such-study"):
            engine.open_study(location, missing, create=False)

    def test_queued_trials_are_asked_in_order_with_their_values(self, study: Study) -> None:
        study.enqueue({"lora.r": 8, "training.learning_rate": 0.01}, {"planned": 0})
        study.enqueue({"lora.r": 16, "training.learning_rate": 0.001}, {"planned": 1})
        queued = study.trials()
        assert [(t.number, t.state, t.params, t.attrs) for t in queued] == [
            (0, QUEUED, {}, {"planned": 0}),
            (1, QUEUED, {}, {"planned": 1}),
        ]
        first = study.ask(SPACE)
        assert (first.number, first.state) == (0, RUNNING)
        assert first.params == {"lora.r": 8, "training.learning_rate": 0.01}
        assert first.attrs == {"planned": 0, "worker": study.worker}
        assert study.ask(SPACE).params == {"lora.r": 16, "training.learning_rate": 0.001}

    def test_without_a_queue_values_are_proposed_from_the_space(self, study: Study) -> None:
        for _ in range(3):
            trial = study.ask(SPACE)
            assert trial.state == RUNNING and list(trial.params) == SPACE.keys
            assert all(trial.params[p.key] in p.values for p in SPACE.params)
            study.tell(trial.number, COMPLETED, 1.0)
        assert [t.number for t in study.trials()] == [0, 1, 2]

    def test_workers_in_threads_never_take_the_same_trial(
        self, engine: StudyEngine, location: Union[str, Path], settings: StudySettings, study: Study
    ) -> None:
        combos = SPACE.combinations()
        for index, params in enumerate(combos):
            study.enqueue(params, {"planned": index})
        taken: List[int] = []
        errors: List[BaseException] = []

        def worker() -> None:
            mine = engine.open_study(location, settings, create=True)
            try:
                for _ in range(len(combos) // 3):
                    trial = mine.ask(SPACE)
                    taken.append(trial.attrs["planned"])
                    mine.tell(trial.number, COMPLETED, float(trial.number))
            except BaseException as exc:  # noqa: BLE001 - surfaced by the assert below
                errors.append(exc)
            finally:
                mine.close()

        threads = [threading.Thread(target=worker) for _ in range(3)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(120)
        assert not errors, errors
        assert sorted(taken) == list(range(len(combos)))
        assert {t.state for t in study.trials()} == {COMPLETED}

    def test_tell_finishes_a_running_trial_once(self, study: Study) -> None:
        states = [COMPLETED, FAILED, SKIPPED]
        numbers = [study.ask(SPACE).number for _ in states]
        for number, state in zip(numbers, states):
            study.tell(number, state, 0.25 if state == COMPLETED else None)
        study.tell(numbers[0], FAILED)  # already finished: left as it is
        finished = {t.number: (t.state, t.value) for t in study.trials()}
        assert finished == {
            numbers[0]: (COMPLETED, 0.25),
            numbers[1]: (FAILED, None),
            numbers[2]: (SKIPPED, None),
        }

    def test_trial_attrs_round_trip_as_json(self, study: Study) -> None:
        number = study.ask(SPACE).number
        attrs: Dict[str, Any] = {"run_id": "run_x", "metrics": {"eval.f1": 0.5}, "duration_seconds": 1.5}
        study.set_trial_attrs(number, attrs)
        study.set_trial_attrs(number, {"error": "boom"})
        (trial,) = study.trials()
        assert trial.attrs == {**attrs, "error": "boom", "worker": study.worker}
        trial.attrs["run_id"] = "changed"  # a copy: the study keeps its own
        assert study.trials()[0].attrs["run_id"] == "run_x"

    def test_release_interrupts_a_running_trial_once(self, study: Study) -> None:
        running, done = study.ask(SPACE).number, study.ask(SPACE).number
        study.tell(done, COMPLETED, 1.0)
        assert study.release(running, "interrupted: its worker w stopped") is True
        assert study.release(running, "again") is False
        assert study.release(done, "too late") is False
        trials = {t.number: t for t in study.trials()}
        assert trials[running].state == FAILED
        assert trials[running].attrs["interrupted"] is True
        assert trials[running].attrs["error"] == "interrupted: its worker w stopped"
        assert trials[done].state == COMPLETED and "interrupted" not in trials[done].attrs

    def test_live_workers_are_never_called_stopped(self, study: Study) -> None:
        assert isinstance(study.worker, str) and study.worker
        assert study.worker_stopped(study.worker) is False
        assert study.worker_stopped("some-other-machine:12345") is False
        study.ask(SPACE)
        assert study.release_silent() == []  # this worker's trial is alive


__all__ = ["StudyEngineConformance"]
