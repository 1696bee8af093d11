"""The ModelBackend suite: train on a tiny task, load the result back, check what comes out."""

from __future__ import annotations

import json
import math
import shutil
from pathlib import Path, PurePosixPath
from typing import Any, Dict, List, Sequence

import pytest

from verifily_core.config import TrainConfig
from verifily_core.conformance.imports import HooksAreLight
from verifily_core.conformance.tasks import reverse_examples, sentiment_examples
from verifily_core.domain.examples import ClassificationExample, Example, SFTExample
from verifily_core.domain.training import TrainCallbacks, TrainOutcome, TrainRequest
from verifily_core.errors import BackendError, ConfigError, VerifilyError
from verifily_core.ports import ArtifactLayout, LaunchPlan, ModelBackend, Predictor

TASKS = ("sft", "classification", "seq2seq")


class ModelBackendConformance(HooksAreLight):
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
        return {"request": request, "outcome": outcome, "calls": calls, "info": info, "backend": backend}

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
        weights = trained["backend"].artifact_layout().weights
        folders = [out / name for name in weights if (out / name).is_dir()]
        assert folders and any(any(f.iterdir()) for f in folders), f"none of {weights} in {out}"
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

    def test_artifact_layout_names_entries_inside_the_run_folder(self, backend: ModelBackend) -> None:
        layout = backend.artifact_layout()
        assert isinstance(layout, ArtifactLayout) and layout.weights
        for entry in (*layout.loaded, layout.checkpoints):
            path = PurePosixPath(entry)
            assert entry and not path.is_absolute() and ".." not in path.parts, entry

    def test_weight_files_are_close_to_their_own_copy(self, trained: Dict[str, Any], tmp_path: Path) -> None:
        backend, out = trained["backend"], trained["request"].output_dir
        files = [
            f
            for entry in backend.artifact_layout().weights
            for f in sorted((out / entry).rglob("*") if (out / entry).is_dir() else [out / entry])
            if f.is_file()
        ]
        assert files, "training wrote no weight file"
        for original in files:
            copy = tmp_path / "copy" / original.relative_to(out)
            copy.parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(original, copy)
            assert backend.weights_close(original, copy, 0.0) is None, original

    def test_plan_launch_plans_the_processes_or_refuses_clearly(
        self, backend: ModelBackend, config: TrainConfig
    ) -> None:
        """It starts nothing: a plan ends with the ``verifily`` arguments, or a ConfigError names the key."""
        distributed = config.apply_overrides(
            {"compute.distributed": True, "compute.device": "cpu", "compute.num_gpus": 2}
        )
        args = ["train", "--config", "train.yaml", "--distributed"]
        try:
            plan = backend.plan_launch(distributed, args, None)
        except ConfigError as exc:
            assert exc.key and exc.key.startswith("compute."), "the refusal names the config key"
            return
        assert isinstance(plan, LaunchPlan) and plan.num_processes == 2 and plan.on_cpu
        assert list(plan.command[-len(args) :]) == args
        assert all(isinstance(part, str) and part for part in plan.command)

    def test_launch_failure_is_one_line(self, backend: ModelBackend) -> None:
        tail = ["some output", "RuntimeError: boom in rank 1", "launcher: exiting"]
        for lines in (tail, []):
            why = backend.launch_failure(1, lines)
            assert isinstance(why, str) and why.strip() and "\n" not in why


def _answers(predictor: Predictor, examples: Sequence[Example]) -> List[Any]:
    texts = [e for e in examples if isinstance(e, ClassificationExample)]
    if texts:
        return [
            (p.label, round(sum(p.probabilities.values()), 3))
            for p in predictor.classify(texts, batch_size=4)
        ]
    prompts = [e for e in examples if isinstance(e, SFTExample)]
    return list(predictor.generate(prompts, max_new_tokens=8, num_beams=1, batch_size=4))
