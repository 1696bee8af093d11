"""Reusable pytest suites that check a plugin against its port's contract (see docs/plugins.md).

A plugin's own tests subclass one class and name the class under test with a fixture::

    from verifily_core.conformance import ModelBackendConformance

    class TestMyBackend(ModelBackendConformance):
        @pytest.fixture
        def backend_class(self):
            return MyBackend

Only test suites import this module (it imports pytest); nothing in the core imports it. Every
fixture below is a default a subclass may override (``base_model``, ``task``, ``config_overrides``,
``hooks_module``, ``tracker_env``, ``sink_env``...).
"""

from __future__ import annotations

import json
import math
import random
import re
import subprocess
import sys
import time
from pathlib import Path
from typing import Any, Dict, List, Mapping, Sequence

import pytest

from verifily_core.config import TrainConfig
from verifily_core.domain.examples import ClassificationExample, Example, SFTExample
from verifily_core.domain.training import TrainCallbacks, TrainOutcome, TrainRequest
from verifily_core.errors import BackendError, BillingError, RunNotFoundError, StoreError, VerifilyError
from verifily_core.ports import ArtifactStore, BillingSink, ModelBackend, Predictor, Tracker

HEAVY_MODULES = ("torch", "transformers", "peft", "gradio", "wandb", "httpx")
TASKS = ("sft", "classification", "seq2seq")


def heavy_imports(module: str) -> List[str]:
    """The heavy frameworks that importing ``module`` pulls in, checked in a fresh interpreter."""
    code = f"import sys, {module}; print(','.join(m for m in {HEAVY_MODULES!r} if m in sys.modules))"
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, f"importing {module} failed: {done.stderr[-2000:]}"
    return [m for m in done.stdout.strip().split(",") if m]


class _HooksAreLight:
    """Shared by every suite: the entry point module must stay cheap to import."""

    @pytest.fixture
    def hooks_module(self) -> str:
        pytest.skip("override the `hooks_module` fixture with your entry point module's dotted name")

    def test_hooks_module_imports_no_heavy_framework(self, hooks_module: str) -> None:
        assert heavy_imports(hooks_module) == []


def sentiment_examples(n: int, seed: int) -> List[ClassificationExample]:
    """A two-label task any classifier learns from a few dozen rows."""
    rng = random.Random(seed)
    words = {
        "positive": ["great", "excellent", "lovely", "superb"],
        "negative": ["terrible", "awful", "broken", "dreadful"],
    }
    things = ["movie", "phone", "meal", "book"]
    return [
        ClassificationExample(
            text=f"This {rng.choice(things)} is {rng.choice(words[label])}.",
            label=label,
            file="train.jsonl",
            line=i + 1,
        )
        for i, label in enumerate(["positive", "negative"] * (n // 2))
    ]


def reverse_examples(n: int, seed: int) -> List[SFTExample]:
    """The letter-reversal SFT task: short, so that a tiny model trains on it in seconds."""
    rng = random.Random(seed)
    rows = []
    for i in range(n):
        seq = [rng.choice("abcdefgh") for _ in range(rng.randint(2, 4))]
        rows.append(
            SFTExample(
                instruction="Reverse the letters.",
                input=" ".join(seq),
                output=" ".join(reversed(seq)),
                file="train.jsonl",
                line=i + 1,
            )
        )
    return rows


class ModelBackendConformance(_HooksAreLight):
    """The ModelBackend contract; override ``backend_class`` and ``base_model`` (and ``task``)."""

    #: False for backends whose ``base_model`` is never a path (they skip the missing-folder check).
    refuses_missing_folders = True

    @pytest.fixture
    def backend_class(self) -> type:
        raise NotImplementedError("override the `backend_class` fixture to return your backend class")

    @pytest.fixture
    def base_model(self) -> str:
        raise NotImplementedError("override the `base_model` fixture with a model your backend trains")

    @pytest.fixture
    def task(self) -> str:
        return "classification"

    @pytest.fixture
    def config_overrides(self) -> Dict[str, Any]:
        """Extra config sections (``{"training": {...}}``) that keep training to seconds."""
        return {}

    @pytest.fixture
    def examples(self, task: str) -> List[Example]:
        return list(sentiment_examples(24, 1) if task == "classification" else reverse_examples(24, 1))

    @pytest.fixture
    def backend(self, backend_class: type[ModelBackend]) -> ModelBackend:
        return backend_class()

    @pytest.fixture
    def config(
        self, backend_class: type[ModelBackend], base_model: str, task: str, config_overrides: Dict[str, Any]
    ) -> TrainConfig:
        return TrainConfig.from_dict(
            {
                "task": task,
                "base_model": base_model,
                "seed": 7,
                "backend": backend_class.PLUGIN_NAME,
                **config_overrides,
            }
        )

    @pytest.fixture
    def trained(
        self, backend: ModelBackend, config: TrainConfig, examples: List[Example], tmp_path: Path
    ) -> Dict[str, Any]:
        """Train once for a test: the request, the outcome and every callback received."""
        labels = sorted({ex.label for ex in examples if isinstance(ex, ClassificationExample)})
        request = TrainRequest(
            config=config,
            train_examples=examples,
            val_examples=examples[:6],
            output_dir=tmp_path / "run",
            labels=labels,
            base_model_path=config.base_model,
        )
        request.output_dir.mkdir()
        calls: List[Any] = []
        callbacks = TrainCallbacks(
            on_start=lambda total: calls.append(("start", total)),
            on_step=lambda step, total: calls.append(("step", step, total)),
            on_log=lambda step, metrics: calls.append(("log", step, dict(metrics))),
        )
        outcome = backend.train(request, callbacks)
        info = {
            "task": config.task,
            "backend": config.backend,
            "base_model": config.base_model,
            "base_model_path": config.base_model,
            "labels": labels,
            "label2id": {label: i for i, label in enumerate(labels)},
            "max_seq_length": config.training.max_seq_length,
            "lora_enabled": config.lora.enabled,
            "quantization": config.lora.quantization,
            "seed": config.seed,
        }
        return {"request": request, "outcome": outcome, "calls": calls, "info": info}

    def test_plugin_name_is_a_non_empty_string(self, backend_class: type) -> None:
        assert issubclass(backend_class, ModelBackend)
        assert isinstance(backend_class.PLUGIN_NAME, str) and backend_class.PLUGIN_NAME.strip()

    def test_supports_answers_a_bool_for_every_task(self, backend: ModelBackend, task: str) -> None:
        answers = {t: backend.supports(t) for t in (*TASKS, "no-such-task")}
        assert all(isinstance(a, bool) for a in answers.values())
        assert answers[task] and not answers["no-such-task"]

    def test_environment_is_deterministic_strings(self, backend_class: type) -> None:
        first, second = backend_class().environment(), backend_class().environment()
        assert first and first == second
        assert all(isinstance(k, str) and isinstance(v, str) for k, v in first.items())
        json.dumps(first)

    def test_validate_model_accepts_the_base_model(
        self, backend: ModelBackend, base_model: str, task: str
    ) -> None:
        backend.validate_model(base_model, task)

    def test_validate_model_refuses_a_missing_local_folder(
        self, backend: ModelBackend, task: str, tmp_path: Path
    ) -> None:
        if not self.refuses_missing_folders:
            pytest.skip("this backend's models are not folders")
        with pytest.raises(BackendError):
            backend.validate_model(str(tmp_path / "no-such-model"), task)

    def test_validate_model_refuses_unsupported_tasks(self, backend: ModelBackend, base_model: str) -> None:
        for other in (t for t in (*TASKS, "no-such-task") if not backend.supports(t)):
            with pytest.raises(VerifilyError):
                backend.validate_model(base_model, other)

    def test_train_returns_an_outcome_and_writes_a_model(self, trained: Dict[str, Any]) -> None:
        outcome, calls, out = trained["outcome"], trained["calls"], trained["request"].output_dir
        assert isinstance(outcome, TrainOutcome)
        assert isinstance(outcome.global_step, int) and outcome.global_step >= 1
        assert outcome.train_loss is None or math.isfinite(outcome.train_loss)
        assert 0 < outcome.train_rows <= len(trained["request"].train_examples)
        json.dumps(outcome.log_history), json.dumps(outcome.extra)
        folders = [out / name for name in ("adapter", "model") if (out / name).is_dir()]
        assert folders and any(any(f.iterdir()) for f in folders), f"no adapter/ or model/ in {out}"
        assert calls and calls[0][0] == "start", "callbacks.start must come first"
        for call in calls:
            if call[0] == "log":
                assert all(isinstance(v, (int, float)) for v in call[2].values())

    def test_loaded_predictor_answers_every_input_in_order(
        self, backend: ModelBackend, trained: Dict[str, Any]
    ) -> None:
        request, examples = trained["request"], list(trained["request"].train_examples[:8])
        predictor = backend.load(request.output_dir, trained["info"])
        try:
            forward, backward = _answers(predictor, examples), _answers(predictor, examples[::-1])
        finally:
            predictor.close()
        assert len(forward) == len(examples)
        assert backward[::-1] == forward
        if isinstance(examples[0], ClassificationExample):
            assert {label for label, _ in forward} <= set(request.labels)

    def test_loading_a_folder_without_a_model_is_a_verifily_error(
        self, backend: ModelBackend, tmp_path: Path, config: TrainConfig
    ) -> None:
        with pytest.raises(VerifilyError):
            backend.load(
                tmp_path,
                {
                    "task": config.task,
                    "labels": ["a", "b"],
                    "base_model": config.base_model,
                    "base_model_path": config.base_model,
                },
            )


def _answers(predictor: Predictor, examples: Sequence[Example]) -> List[Any]:
    texts = [e for e in examples if isinstance(e, ClassificationExample)]
    if texts:
        return [
            (p.label, round(sum(p.probabilities.values()), 3))
            for p in predictor.classify(texts, batch_size=4)
        ]
    prompts = [e for e in examples if isinstance(e, SFTExample)]
    return list(predictor.generate(prompts, max_new_tokens=8, num_beams=1, batch_size=4))


class ArtifactStoreConformance(_HooksAreLight):
    """The ArtifactStore contract; override ``store_class``."""

    @pytest.fixture
    def store_class(self) -> type:
        raise NotImplementedError("override the `store_class` fixture to return your store class")

    @pytest.fixture
    def store(self, store_class: type[ArtifactStore], tmp_path: Path) -> ArtifactStore:
        return store_class(tmp_path / "runs")

    def test_ids_follow_the_contract_and_never_collide(self, store: ArtifactStore) -> None:
        plain = [store.create_run().run_id for _ in range(3)]
        assert all(re.fullmatch(r"run_\d{8}_\d{6}_[0-9a-f]{6}", rid) for rid in plain)
        assert len(set(plain)) == 3
        named = [store.create_run("exp").run_id for _ in range(3)]
        assert re.fullmatch(r"run_\d{8}_exp", named[0]) and named[1:] == [f"{named[0]}_2", f"{named[0]}_3"]

    def test_files_round_trip_and_overwrite_whole(self, store: ArtifactStore) -> None:
        rid = store.create_run().run_id
        store.write_json(rid, "a.json", {"x": [1, 2]})
        store.write_json(rid, "a.json", {"y": "é"})
        store.write_text(rid, "logs/t.txt", "hello\n")
        store.write_jsonl(rid, "rows.jsonl", [{"i": i} for i in range(3)])
        assert store.read_json(rid, "a.json") == {"y": "é"}
        assert store.read_text(rid, "logs/t.txt") == "hello\n"
        assert list(store.iter_jsonl(rid, "rows.jsonl")) == [{"i": 0}, {"i": 1}, {"i": 2}]
        assert store.exists(rid, "a.json") and not store.exists(rid, "b.json")
        assert store.size_bytes(rid) >= len("hello\n")

    def test_atomic_writes_leave_no_temporary_files(self, store: ArtifactStore) -> None:
        loc = store.create_run()
        store.write_text(loc.run_id, "f.txt", "x" * 10000)
        folder = store.location(loc.run_id).path
        if (folder / "f.txt").is_file():  # remote and in-memory stores keep no local copy
            assert sorted(p.name for p in folder.rglob("*") if p.is_file()) == ["f.txt"]

    def test_bad_files_are_store_errors_naming_the_file(self, store: ArtifactStore) -> None:
        rid = store.create_run().run_id
        with pytest.raises(StoreError, match="missing.json"):
            store.read_json(rid, "missing.json")
        store.write_text(rid, "bad.json", "{not json")
        with pytest.raises(StoreError, match="bad.json"):
            store.read_json(rid, "bad.json")

    def test_list_runs_finds_runs_with_meta_sorted(self, store: ArtifactStore) -> None:
        ids = [store.create_run().run_id for _ in range(2)]
        for rid in ids:
            store.write_json(rid, "run_meta.json", {"run_id": rid})
        assert [loc.run_id for loc in store.list_runs()] == sorted(ids)
        assert store.location(ids[0]).run_id == ids[0]

    @pytest.mark.parametrize("bad", ["..", "../x", "/etc", "no_such_run", "a/../.."])
    def test_location_refuses_anything_but_a_present_run(self, store: ArtifactStore, bad: str) -> None:
        store.create_run()
        with pytest.raises(RunNotFoundError):
            store.location(bad)


class TrackerConformance(_HooksAreLight):
    """The Tracker contract; override ``tracker_class`` (and ``tracker_env`` for credentials)."""

    @pytest.fixture
    def tracker_class(self) -> type:
        raise NotImplementedError("override the `tracker_class` fixture to return your tracker class")

    @pytest.fixture
    def tracker_env(self, tmp_path: Path) -> Dict[str, str]:
        """Environment variables set for the test (an offline mode, a local directory...)."""
        return {}

    def test_a_whole_run_is_recorded_without_raising(
        self,
        tracker_class: type[Tracker],
        tracker_env: Dict[str, str],
        tmp_path: Path,
        monkeypatch: pytest.MonkeyPatch,
    ) -> None:
        assert isinstance(tracker_class.PLUGIN_NAME, str) and tracker_class.PLUGIN_NAME
        for name, value in tracker_env.items():
            monkeypatch.setenv(name, value)
        config = TrainConfig.from_dict(
            {"task": "sft", "base_model": "tiny", "trackers": [tracker_class.PLUGIN_NAME]}
        )
        run_dir = tmp_path / "run_x"
        (run_dir / "adapter").mkdir(parents=True)
        (run_dir / "adapter" / "weights.bin").write_bytes(b"\0" * 16)
        tracker = tracker_class(config, run_dir)
        assert isinstance(tracker, Tracker)
        tracker.start("run_x", config.flat())
        for step in (1, 2, 3):
            tracker.log({"train/loss": 1.0 / step}, step)
        tracker.log_artifact(run_dir / "adapter", "adapter")
        tracker.finish({"train_loss": 0.33})
        assert run_dir.is_dir()


class BillingSinkConformance(_HooksAreLight):
    """The BillingSink contract; override ``sink_class`` and ``sink_env`` (what switches it on)."""

    emit_budget_seconds = 30.0

    @pytest.fixture
    def sink_class(self) -> type:
        raise NotImplementedError("override the `sink_class` fixture to return your sink class")

    @pytest.fixture
    def sink_env(self, tmp_path: Path) -> Dict[str, str]:
        raise NotImplementedError("override `sink_env`: the environment variables that switch the sink on")

    @pytest.fixture(autouse=True)
    def _no_billing_env(self, monkeypatch: pytest.MonkeyPatch) -> None:
        import os

        for name in [n for n in os.environ if n.startswith("VERIFILY_BILLING")]:
            monkeypatch.delenv(name)

    def test_without_its_environment_there_is_no_sink(
        self, sink_class: type[BillingSink], tmp_path: Path
    ) -> None:
        assert isinstance(sink_class.PLUGIN_NAME, str) and sink_class.PLUGIN_NAME
        assert sink_class.from_environment(tmp_path) is None

    def test_emit_returns_in_bounded_time_or_raises_billing_error(
        self,
        sink_class: type[BillingSink],
        sink_env: Dict[str, str],
        tmp_path: Path,
        monkeypatch: pytest.MonkeyPatch,
    ) -> None:
        for name, value in sink_env.items():
            monkeypatch.setenv(name, value)
        sink = sink_class.from_environment(tmp_path)
        assert isinstance(sink, BillingSink)
        event: Mapping[str, Any] = {"event": "train_end", "run_id": "run_x", "event_id": "evt-1"}
        started = time.monotonic()
        try:
            sink.emit(event)
        except BillingError:
            pass  # failing is allowed; failing slowly or with a vendor exception is not
        finally:
            sink.close()
        assert time.monotonic() - started < self.emit_budget_seconds


__all__ = [
    "ArtifactStoreConformance",
    "BillingSinkConformance",
    "ModelBackendConformance",
    "TrackerConformance",
    "heavy_imports",
    "reverse_examples",
    "sentiment_examples",
]
