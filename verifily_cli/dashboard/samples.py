"""Sample run folders for the dashboard's screenshots, benchmark and browser tests.

Why through the real use cases: the folders are made by ``services.train`` (config freeze, hash
chain, TensorBoard logs, usage, sealing) and ``services.evaluate`` (predictions, slices, hard
examples) with only the model replaced by the shipped scripted backend, so the dashboard is shown
and tested on exactly the files a user's runs hold, not on a hand-written imitation of them.

The scripted backend reports the environment it is given; pass the ``hf`` backend's
``environment()`` so that the dashboard's live verify (which asks the run's recorded backend, ``hf``)
PASSes on an untouched run.
"""

from __future__ import annotations

import json
import random
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Dict, List, Mapping, Optional, Sequence

from verifily_core.bootstrap import open_store, trackers_named
from verifily_core.config import TrainConfig
from verifily_core.domain.runs import RUN_META
from verifily_core.domain.training import TrainCallbacks, TrainOutcome, TrainRequest
from verifily_core.errors import BackendError
from verifily_core.services.evaluation.evaluate import evaluate_run
from verifily_core.services.training.dependencies import TrainDependencies
from verifily_core.services.training.train import train
from verifily_core.testing import ScriptedModelBackend

SOURCES = ("human", "synthetic")
DIFFICULTIES = ("easy", "hard")
WORDS = ("alpha", "bravo", "delta", "echo", "golf", "hotel", "kilo", "lima", "oscar", "tango")


@dataclass(frozen=True)
class SampleRun:
    """One sample run: its name, config overrides, loss curve and how often it answers right.

    ``skill[source]`` is the chance that a test answer of that source is exactly right, which makes
    the slices (and the deltas between runs) differ in a way a reader can see in the charts.
    """

    name: str
    overrides: Mapping[str, Any] = field(default_factory=dict)
    losses: Sequence[float] = (2.4, 1.9, 1.5, 1.2, 1.0, 0.85, 0.74, 0.66)
    skill: Mapping[str, float] = field(default_factory=lambda: {"human": 0.7, "synthetic": 0.5})
    fail_with: Optional[str] = None
    dry_run: bool = False


DEMO_RUNS = (
    SampleRun("baseline"),
    SampleRun(
        "lower-lr",
        {"training.learning_rate": 5e-5, "lora.r": 32},
        losses=(2.4, 2.0, 1.6, 1.25, 0.98, 0.8, 0.66, 0.58),
        skill={"human": 0.8, "synthetic": 0.35},
    ),
    SampleRun("dry", dry_run=True),
    SampleRun("oom", {"training.batch_size": 64}, fail_with="CUDA out of memory (sample failure)"),
)


class _SampleBackend(ScriptedModelBackend):
    """Scripted training that also logs an eval loss and reports a given environment."""

    def __init__(
        self, losses: Sequence[float], environment: Mapping[str, str], error: Optional[Exception] = None
    ) -> None:
        super().__init__(losses, error=error)
        self._environment = dict(environment)

    def environment(self) -> Dict[str, str]:
        return dict(self._environment)

    def train(self, request: TrainRequest, callbacks: TrainCallbacks) -> TrainOutcome:
        outcome = super().train(request, callbacks)
        for step in range(2, len(self.losses) + 1, 2):
            entry = {"step": step, "eval_loss": round(self.losses[step - 1] * 1.15 + 0.05, 4)}
            callbacks.log(step, {"eval_loss": entry["eval_loss"]})
            outcome.log_history.append(entry)
        return outcome


def write_sample_data(data_dir: Path, *, n_test: int = 24, seed: int = 0) -> Dict[str, Path]:
    """SFT train/val/test JSONL files tagged by ``source`` and ``difficulty``."""
    rng = random.Random(seed)
    data_dir.mkdir(parents=True, exist_ok=True)
    paths = {}
    for split, n in (("train", 32), ("val", 8), ("test", n_test)):
        rows = []
        for i in range(n):
            letters = rng.sample(WORDS, 3)
            rows.append(
                {
                    "instruction": f"Reverse the words: {' '.join(letters)}",
                    "output": " ".join(reversed(letters)),
                    "tags": {"source": SOURCES[i % 2], "difficulty": DIFFICULTIES[(i // 2) % 2]},
                }
            )
        path = data_dir / f"sft_{split}.jsonl"
        path.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
        paths[split] = path
    return paths


def _answers(test_path: Path, skill: Mapping[str, float], seed: int) -> List[str]:
    """One answer per test row: right with probability ``skill[source]``, else partly or all wrong."""
    rng = random.Random(seed)
    answers = []
    for line in test_path.read_text(encoding="utf-8").splitlines():
        row = json.loads(line)
        words = row["output"].split()
        if rng.random() < skill.get(row["tags"]["source"], 0.5):
            answers.append(row["output"])
        elif rng.random() < 0.5:
            answers.append(" ".join(words[:2]))
        else:
            answers.append(rng.choice(WORDS))
    return answers


def sample_config(data: Mapping[str, Path], runs_dir: Path, sample: SampleRun) -> TrainConfig:
    base = TrainConfig.from_dict(
        {
            "task": "sft",
            "base_model": "sample/tiny-llama",
            "name": sample.name,
            "data_paths": {"train": str(data["train"]), "val": str(data["val"]), "test": str(data["test"])},
            "output": {"dir": str(runs_dir)},
            "eval": {"slice_by_tags": ["source", "difficulty"], "hard_examples": 10},
            "trackers": ["tensorboard"],
        }
    )
    return base.apply_overrides(dict(sample.overrides))


def write_sample_run(
    runs_dir: Path,
    data: Mapping[str, Path],
    sample: SampleRun,
    environment: Mapping[str, str],
    *,
    seed: int = 0,
) -> str:
    """Train (and evaluate) one sample run through the real use cases; returns its run id."""
    error = BackendError(sample.fail_with) if sample.fail_with else None
    backend = _SampleBackend(sample.losses, environment, error)
    backend.enqueue(*_answers(data["test"], sample.skill, seed))
    config = sample_config(data, runs_dir, sample)
    store = open_store(runs_dir, config.store)
    deps = TrainDependencies(backend, store, trackers_named(config.trackers), (), evaluate_run)
    before = {r.run_id for r in store.list_runs()}
    try:
        return train(config, deps, dry_run=sample.dry_run).run_id
    except BackendError:
        (new,) = {r.run_id for r in store.list_runs()} - before
        return new


def write_corrupt_run(runs_dir: Path, run_id: str = "run_20990101_000000_badbad") -> str:
    """A run folder whose ``run_meta.json`` was cut off mid-write (what a crash on a bad disk leaves)."""
    folder = runs_dir / run_id
    folder.mkdir(parents=True, exist_ok=True)
    (folder / RUN_META).write_text(f'{{"run_id": "{run_id}", "status": "comp', encoding="utf-8")
    return run_id


def write_demo_runs(
    runs_dir: Path, data_dir: Path, environment: Mapping[str, str], samples: Sequence[SampleRun] = DEMO_RUNS
) -> List[str]:
    """The demo set: two evaluated runs to compare, a dry run, a failed run and a corrupt folder."""
    data = write_sample_data(data_dir)
    ids = [write_sample_run(runs_dir, data, s, environment, seed=i) for i, s in enumerate(samples)]
    return ids + [write_corrupt_run(runs_dir)]
