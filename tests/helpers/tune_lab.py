"""A search on the shipped fakes for the tune tests: scripted trials with known losses, one store,
and a study engine of the test's choosing (the in-memory fake in the core's tests, Optuna in the
adapter's)."""

from __future__ import annotations

import threading
import time
from pathlib import Path
from typing import Any, Dict, List, Optional, Tuple

from helpers.data import write_jsonl
from verifily_core.config import TrainConfig
from verifily_core.domain.search import space_from_specs
from verifily_core.domain.tuning import TUNE_RESULTS, TuneSettings
from verifily_core.ports.study import StudyEngine
from verifily_core.services.training.dependencies import TrainDependencies
from verifily_core.services.tuning.tune import resume, tune
from verifily_core.testing import InMemoryArtifactStore, InMemoryStudyEngine, ScriptedModelBackend

GRID = ["training.learning_rate=0.001,0.005", "lora.r=4,8"]


def loss_of(config: TrainConfig) -> float:
    """The scripted eval_loss of a trial: a known function of its values (minimum at lr 0.001, r 8)."""
    return round(config.training.learning_rate * 100 + 1.0 / config.lora.r, 6)


class Lab:
    """A deps factory over the fakes: one store for every trial, a scripted backend per trial whose
    losses follow ``loss_of``; ``fail`` / ``interrupt`` / ``die`` pick trials (by lora.r) that raise an
    error, Ctrl-C, or SystemExit (which the search does not catch: the trial stays running, as when a
    worker is killed). Its study engine is ``engine``, by default the in-memory one naming every
    worker ``worker-a``."""

    def __init__(
        self,
        tmp_path: Path,
        *,
        fail: Optional[int] = None,
        interrupt: Optional[int] = None,
        die: Optional[int] = None,
        delay: float = 0.0,
        evaluate: Any = None,
        engine: Optional[StudyEngine] = None,
    ) -> None:
        self.store = InMemoryArtifactStore(tmp_path / "runs", local_root=tmp_path / "local")
        self.engine = engine or InMemoryStudyEngine(worker="worker-a")
        self.fail, self.interrupt, self.die, self.delay, self.evaluate = fail, interrupt, die, delay, evaluate
        self.trained: List[Tuple[float, int]] = []
        self._lock = threading.Lock()

    def __call__(self, config: TrainConfig) -> TrainDependencies:
        lab = self

        class Backend(ScriptedModelBackend):
            def train(self, request: Any, callbacks: Any) -> Any:
                with lab._lock:
                    lab.trained.append((config.training.learning_rate, config.lora.r))
                time.sleep(lab.delay)
                if config.lora.r == lab.interrupt:
                    raise KeyboardInterrupt
                if config.lora.r == lab.die:
                    raise SystemExit(9)
                if config.lora.r == lab.fail:
                    raise RuntimeError("CUDA out of memory (scripted)")
                return super().train(request, callbacks)

        return TrainDependencies(Backend(losses=(3.0, loss_of(config))), self.store, (), (), self.evaluate)

    def run_ids(self) -> List[str]:
        return sorted(r for r in self.store.files if r.startswith("run_"))


def write_data(tmp_path: Path) -> Dict[str, str]:
    rows = [{"instruction": "Reverse the letters.", "input": f"a {c}", "output": f"{c} a"} for c in "bcdef"]
    return {split: str(write_jsonl(tmp_path / f"{split}.jsonl", rows)) for split in ("train", "val", "test")}


def make_config(tmp_path: Path, **data_paths: Optional[str]) -> TrainConfig:
    paths: Dict[str, Optional[str]] = {**write_data(tmp_path), "test": None}
    paths.update(data_paths)
    return TrainConfig.from_dict(
        {
            "task": "sft",
            "base_model": "scripted-model",
            "backend": "scripted",
            "store": "memory",
            "trackers": [],
            "data_paths": paths,
            "output": {"dir": str(tmp_path / "runs")},
            "seed": 7,
        }
    )


def run(lab: Lab, config: TrainConfig, specs: List[str] = GRID, **settings: Any) -> Any:
    return tune(
        config,
        space_from_specs(specs, config),
        TuneSettings(**settings),
        store=lab.store,
        deps_factory=lab,
        engine=lab.engine,
    )


def run_workers(lab: Lab, config: TrainConfig, specs: List[str], storage: str, timeout: float) -> List[Any]:
    """Three threads joining one search on ``storage``: their reports; any worker's error fails the test."""
    reports: List[Any] = []
    errors: List[BaseException] = []

    def worker() -> None:
        try:
            reports.append(run(lab, config, specs, storage=storage))
        except BaseException as exc:  # noqa: BLE001 - surfaced by the assert below
            errors.append(exc)

    threads = [threading.Thread(target=worker, name=f"worker-{i}") for i in range(3)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout)
    assert not errors, errors
    return reports


def resume_search(lab: Lab, tune_id: str) -> Any:
    return resume(tune_id, store=lab.store, deps_factory=lab, engine=lab.engine)


def results(lab: Lab, tune_id: str) -> Dict[str, Any]:
    return dict(lab.store.read_json(tune_id, TUNE_RESULTS))


def combos(trials: List[Any], status: str = "completed") -> List[Tuple[float, int]]:
    return sorted(
        (t.params["training.learning_rate"], t.params["lora.r"]) for t in trials if t.status == status
    )


ALL = [(0.001, 4), (0.001, 8), (0.005, 4), (0.005, 8)]
