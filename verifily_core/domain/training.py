"""What the train use case asks of a model backend and what it gets back (the ModelBackend port's
vocabulary). Plain values only, so that any backend (HF, scikit-learn, a remote service) can fill
them and the services can persist them without knowing which backend ran.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Dict, List, Mapping, Optional, Sequence, Tuple

from verifily_core.config import TrainConfig
from verifily_core.domain.examples import ClassificationExample, Example, SFTExample


@dataclass(frozen=True)
class TrainRequest:
    """Everything a backend needs to train one run.

    ``output_dir`` is the run folder on local disk (from ``ArtifactStore.local_dir``); the backend
    writes ``adapter/`` or ``model/``, ``tokenizer/``, ``checkpoints/`` and ``logs/`` below it.
    ``resume_from`` is a checkpoint folder to continue from (same run folder), or None.
    ``labels`` is the sorted label list of a classification run (index = class id).
    ``device`` is the already-resolved device request (``auto`` resolved by the backend itself).
    """

    config: TrainConfig
    train_examples: Sequence[Example]
    val_examples: Sequence[Example]
    output_dir: Path
    labels: Sequence[str] = ()
    resume_from: Optional[Path] = None
    base_model_path: str = ""


@dataclass
class TrainOutcome:
    """What a finished training reports; written to ``train_summary.json`` by the train service."""

    global_step: int
    epochs: float
    train_loss: Optional[float]
    eval_loss: Optional[float] = None
    wall_seconds: float = 0.0
    tokens_processed: int = 0
    train_rows: int = 0
    truncated_rows: int = 0
    truncated_tokens: int = 0
    device: str = "cpu"
    gpu_type: Optional[str] = None
    num_gpus: int = 0
    world_size: int = 1
    per_device_batch_size: int = 1
    global_batch_size: int = 1
    architecture: str = ""
    trainable_parameters: int = 0
    total_parameters: int = 0
    warnings: List[str] = field(default_factory=list)
    log_history: List[Dict[str, Any]] = field(default_factory=list)
    extra: Dict[str, Any] = field(default_factory=dict)

    @property
    def tokens_per_second(self) -> float:
        return self.tokens_processed / self.wall_seconds if self.wall_seconds > 0 else 0.0


@dataclass(frozen=True)
class ClassPrediction:
    """A classifier's answer for one text: the label and the probability of every label."""

    label: str
    probabilities: Mapping[str, float]


@dataclass(frozen=True)
class TokenLoss:
    """Summed negative log-likelihood of a reference and the number of tokens it covers."""

    nll_sum: float
    num_tokens: int


@dataclass
class TrainCallbacks:
    """How a backend reports progress without knowing who listens (CLI bar, tracker, tests).

    ``on_start(total_steps)``, ``on_step(step, total_steps)``, ``on_log(step, metrics)`` are called
    on the main process only. Every callback is optional.
    """

    on_start: Optional[Callable[[int], None]] = None
    on_step: Optional[Callable[[int, int], None]] = None
    on_log: Optional[Callable[[int, Mapping[str, float]], None]] = None

    def start(self, total_steps: int) -> None:
        if self.on_start:
            self.on_start(total_steps)

    def step(self, step: int, total_steps: int) -> None:
        if self.on_step:
            self.on_step(step, total_steps)

    def log(self, step: int, metrics: Mapping[str, float]) -> None:
        if self.on_log:
            self.on_log(step, metrics)


__all__ = [
    "ClassPrediction",
    "ClassificationExample",
    "Example",
    "SFTExample",
    "TokenLoss",
    "TrainCallbacks",
    "TrainOutcome",
    "TrainRequest",
]


RISING_EVALS = 3  # consecutive rises of the validation loss that make a notice


def rising_eval_loss_notice(log_history: Sequence[Mapping[str, Any]], rises: int = RISING_EVALS) -> List[str]:
    """A notice when the validation loss rose ``rises`` evaluations in a row (the longest such
    stretch is named): the usual sign of overfitting, which a run's final numbers hide."""
    evals = [(int(e.get("step", 0)), float(e["eval_loss"])) for e in log_history if "eval_loss" in e]
    best: Optional[Tuple[int, int]] = None  # (start index, end index) of the longest rising stretch
    start = 0
    for i in range(1, len(evals) + 1):
        if i == len(evals) or evals[i][1] <= evals[i - 1][1]:
            if i - 1 - start >= rises and (best is None or i - 1 - start > best[1] - best[0]):
                best = (start, i - 1)
            start = i
    if best is None:
        return []
    (s0, l0), (s1, l1) = evals[best[0]], evals[best[1]]
    return [
        f"Validation loss rose {best[1] - best[0]} evaluations in a row, from {l0:.4f} at step {s0} to "
        f"{l1:.4f} at step {s1}: the model is likely overfitting. Consider "
        "training.early_stopping_patience with training.load_best_model_at_end, or fewer epochs."
    ]
