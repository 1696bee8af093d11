"""The scripted model backend: "trains" along a scripted loss curve in no time.

Why it writes a real-looking adapter: run hashing and reproduction checks need bytes that change
exactly when the config or the data change, as a real backend's weights would.
"""

from __future__ import annotations

import hashlib
import json
from collections import deque
from pathlib import Path
from typing import Any, Deque, Dict, List, Mapping, Optional, Sequence, Union

from verifily_core.config import TrainConfig
from verifily_core.domain.examples import ClassificationExample, SFTExample
from verifily_core.domain.runs import ADAPTER_DIR
from verifily_core.domain.training import (
    ClassPrediction,
    TokenLoss,
    TrainCallbacks,
    TrainOutcome,
    TrainRequest,
)
from verifily_core.errors import BackendError
from verifily_core.ports import LaunchPlan, ModelBackend, Predictor
from verifily_core.testing.recording import Call

Answer = Union[str, ClassPrediction]
TASKS = ("sft", "classification")


class ScriptedPredictor(Predictor):
    """Answers from a shared queue first, then the defaults; records each call in ``history``."""

    def __init__(
        self,
        answers: Deque[Answer],
        history: List[Call],
        labels: Sequence[str] = (),
        loss_per_token: float = 1.0,
    ) -> None:
        self.answers = answers
        self.history = history
        self.labels = list(labels)
        self.loss_per_token = loss_per_token
        self.closed = False

    def enqueue(self, *answers: Answer) -> None:
        self.answers.extend(answers)

    def _next(self) -> Optional[Answer]:
        return self.answers.popleft() if self.answers else None

    def generate(
        self, examples: Sequence[SFTExample], *, max_new_tokens: int, num_beams: int, batch_size: int
    ) -> list[str]:
        self.history.append(("generate", list(examples)))
        out = []
        for example in examples:
            answer = self._next()
            out.append(example.output if answer is None else str(answer))
        return out

    def classify(
        self, examples: Sequence[ClassificationExample], *, batch_size: int
    ) -> list[ClassPrediction]:
        self.history.append(("classify", list(examples)))
        labels = self.labels or sorted({e.label for e in examples})
        out = []
        for _ in examples:
            answer = self._next()
            if isinstance(answer, ClassPrediction):
                out.append(answer)
            else:
                label = labels[0] if answer is None else answer
                out.append(ClassPrediction(label, _confident(label, labels)))
        return out

    def reference_loss(self, examples: Sequence[SFTExample], *, batch_size: int) -> list[TokenLoss]:
        self.history.append(("reference_loss", list(examples)))
        tokens = [max(1, len(e.output.split())) for e in examples]
        return [TokenLoss(self.loss_per_token * n, n) for n in tokens]

    def close(self) -> None:
        self.history.append(("close", None))
        self.closed = True


def _confident(label: str, labels: Sequence[str]) -> Dict[str, float]:
    """Probabilities that favour ``label`` (0.9) and share the rest, summing to 1."""
    others = sorted(set(labels) - {label})
    if not others:
        return {label: 1.0}
    return {label: 0.9, **{o: 0.1 / len(others) for o in others}}


class ScriptedModelBackend(ModelBackend):
    """A backend that follows a script; see the package docstring.

    ``losses`` is the loss logged at each step (one step per value); ``error``, when set, is raised
    by ``train`` after it is recorded, to drive the failure paths of the train use case.
    ``launcher``, when set, is the command ``plan_launch`` puts before the ``verifily`` arguments
    (one process per ``compute.num_gpus``); without it distributed training is refused, as by any
    backend that trains in one process. ``weights_close`` reads weight files as byte values.
    """

    PLUGIN_NAME = "scripted"
    WEIGHTS_FILE = "adapter_model.safetensors"

    def __init__(
        self,
        losses: Sequence[float] = (2.0, 1.4, 0.9, 0.6),
        *,
        error: Optional[Exception] = None,
        launcher: Optional[Sequence[str]] = None,
    ) -> None:
        self.losses = list(losses)
        self.error = error
        self.launcher = None if launcher is None else tuple(launcher)
        self.answers: Deque[Answer] = deque()
        self.history: List[Call] = []

    def enqueue(self, *answers: Answer) -> None:
        """Answers for the next predictions of any predictor this backend loads, in order."""
        self.answers.extend(answers)

    def supports(self, task: str) -> bool:
        return task in TASKS

    def environment(self) -> Dict[str, str]:
        return {"backend": self.PLUGIN_NAME, "scripted_backend_version": "1"}

    def validate_model(self, base_model: str, task: str) -> None:
        self.history.append(("validate_model", base_model))
        if not base_model.strip():
            raise BackendError("base_model is empty.", hint="Set base_model to a model folder or hub id.")
        if not self.supports(task):
            raise BackendError(f"The scripted backend has no task {task!r}; it knows {', '.join(TASKS)}.")

    def train(self, request: TrainRequest, callbacks: TrainCallbacks) -> TrainOutcome:
        self.history.append(("train", request))
        if self.error is not None:
            raise self.error
        config = request.config
        total = len(self.losses)
        callbacks.start(total)
        log: List[Dict[str, Any]] = []
        for step, loss in enumerate(self.losses, 1):
            metrics = {"loss": loss, "epoch": config.training.num_epochs * step / total}
            callbacks.step(step, total)
            callbacks.log(step, metrics)
            log.append({"step": step, **metrics})
        self._write_adapter(request)
        words = sum(len(str(e.target).split()) for e in request.train_examples)
        batch = config.training.batch_size
        return TrainOutcome(
            global_step=total,
            epochs=float(config.training.num_epochs),
            train_loss=sum(self.losses) / total if total else None,
            eval_loss=self.losses[-1] if request.val_examples and self.losses else None,
            tokens_processed=int(words * config.training.num_epochs),
            train_rows=len(request.train_examples),
            per_device_batch_size=batch,
            global_batch_size=batch,
            architecture="scripted",
            trainable_parameters=config.lora.r * 8,
            total_parameters=1000,
            log_history=log,
        )

    def _write_adapter(self, request: TrainRequest) -> None:
        """A real-looking adapter whose bytes change exactly when the config or the data change."""
        folder = Path(request.output_dir) / ADAPTER_DIR
        folder.mkdir(parents=True, exist_ok=True)
        config = request.config
        (folder / "adapter_config.json").write_text(
            json.dumps(
                {
                    "backend": self.PLUGIN_NAME,
                    "base_model_name_or_path": config.base_model,
                    "task": config.task,
                    "r": config.lora.r,
                    "lora_alpha": config.lora.alpha,
                    "labels": list(request.labels),
                },
                indent=2,
            ),
            encoding="utf-8",
        )
        digest = hashlib.sha256(config.canonical_json().encode("utf-8"))
        for example in request.train_examples:
            digest.update(json.dumps(example.to_row(), sort_keys=True).encode("utf-8"))
        (folder / self.WEIGHTS_FILE).write_bytes(digest.digest() * 32)

    def load(
        self, run_dir: Path, training_info: Mapping[str, Any], *, device: Optional[str] = None
    ) -> Predictor:
        self.history.append(("load", Path(run_dir)))
        adapter = Path(run_dir) / ADAPTER_DIR / "adapter_config.json"
        if not adapter.is_file():
            raise BackendError(f"No trained adapter at {adapter}", hint="Train the run first.")
        labels = training_info.get("labels") or json.loads(adapter.read_text(encoding="utf-8"))["labels"]
        return ScriptedPredictor(
            self.answers, self.history, labels, loss_per_token=self.losses[-1] if self.losses else 1.0
        )

    def weights_close(self, a: Path, b: Path, atol: float) -> Optional[str]:
        """Each byte is one value: close when no two bytes at the same offset differ by more than ``atol``."""
        self.history.append(("weights_close", (Path(a), Path(b), atol)))
        left, right = Path(a).read_bytes(), Path(b).read_bytes()
        if len(left) != len(right):
            return f"sizes differ ({len(left)} vs {len(right)} bytes)"
        worst = max((abs(x - y) for x, y in zip(left, right)), default=0)
        return None if worst <= atol else f"max |difference| {worst} > atol {atol}"

    def plan_launch(
        self, config: TrainConfig, args: Sequence[str], launcher_config: Optional[Path]
    ) -> LaunchPlan:
        self.history.append(("plan_launch", list(args)))
        if self.launcher is None:
            return super().plan_launch(config, args, launcher_config)
        processes = config.compute.num_gpus or 1
        return LaunchPlan((*self.launcher, *args), processes, True, f"{processes} scripted process(es)")
