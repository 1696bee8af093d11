"""The hf backend's tests in a few lines each: tiny tasks as domain examples, a small CPU config,
one call to train, and callbacks that remember what they were told.

The session fixtures built on these (the tiny models, one trained run) are in
``tests/adapters/conftest.py``.
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Dict, List, Tuple

from verifily_core.config import TrainConfig
from verifily_core.domain.examples import ClassificationExample, SFTExample
from verifily_core.domain.training import TrainCallbacks, TrainOutcome, TrainRequest

LETTERS = "abcdefgh"


def reverse_rows(n: int, seed: int, file: str = "train.jsonl") -> List[SFTExample]:
    """The letter-reversal task of STACK-NOTES.md: learnable by the tiny llama in a few seconds."""
    rng = random.Random(seed)
    rows = []
    for i in range(n):
        seq = [rng.choice(LETTERS) for _ in range(rng.randint(2, 4))]
        rows.append(
            SFTExample(
                instruction="Reverse the letters.",
                input=" ".join(seq),
                output=" ".join(reversed(seq)),
                tags={"len": len(seq)},
                file=file,
                line=i + 1,
            )
        )
    return rows


def sentiment_rows(n: int, seed: int) -> List[ClassificationExample]:
    rng = random.Random(seed)
    pos = ["great", "excellent", "wonderful", "fantastic", "lovely", "superb"]
    neg = ["terrible", "awful", "horrible", "dreadful", "useless", "broken"]
    things = ["product", "service", "movie", "book", "phone", "meal"]
    rows = []
    for i in range(n):
        positive = i % 2 == 0
        text = f"This {rng.choice(things)} is {rng.choice(pos if positive else neg)}."
        rows.append(
            ClassificationExample(
                text=text, label="positive" if positive else "negative", file="cls.jsonl", line=i + 1
            )
        )
    return rows


def sft_config(base: Path, **sections: Dict[str, Any]) -> TrainConfig:
    """A small CPU config; ``sections`` update the defaults per section (training=..., lora=...)."""
    data: Dict[str, Any] = {
        "task": "sft",
        "base_model": str(base),
        "seed": 7,
        "training": {
            "num_epochs": 1,
            "batch_size": 8,
            "gradient_accumulation_steps": 1,
            "learning_rate": 3e-3,
            "lr_scheduler": "constant",
            "warmup_ratio": 0.0,
            "logging_steps": 5,
            "save_steps": 1000,
            "max_seq_length": 128,
        },
        "lora": {
            "target_modules": "all-linear",
            "modules_to_save": ["embed_tokens", "lm_head"],
            "dropout": 0.0,
        },
        "compute": {"device": "cpu", "bf16": False},
    }
    for key, values in sections.items():
        if isinstance(values, dict):
            data.setdefault(key, {}).update(values)
        else:
            data[key] = values
    return TrainConfig.from_dict(data)


@dataclass
class Recorder:
    """TrainCallbacks that remember what they were told."""

    starts: List[int] = field(default_factory=list)
    steps: List[Tuple[int, int]] = field(default_factory=list)
    logs: List[Tuple[int, Dict[str, float]]] = field(default_factory=list)

    def callbacks(self) -> TrainCallbacks:
        return TrainCallbacks(
            on_start=self.starts.append,
            on_step=lambda s, t: self.steps.append((s, t)),
            on_log=lambda s, m: self.logs.append((s, dict(m))),
        )


def train(
    config: TrainConfig,
    out: Path,
    train_rows: List[Any],
    val_rows: List[Any] = (),  # type: ignore[assignment]
    callbacks: TrainCallbacks = None,
    **request: Any,
) -> TrainOutcome:  # type: ignore[assignment]
    from verifily_adapters.hf_backend.backend import HFModelBackend

    req = TrainRequest(
        config=config,
        train_examples=train_rows,
        val_examples=list(val_rows),
        output_dir=out,
        base_model_path=config.base_model,
        **request,
    )
    return HFModelBackend().train(req, callbacks or TrainCallbacks())


def info_for(config: TrainConfig, outcome: TrainOutcome) -> Dict[str, Any]:
    """The training_info.json fields the train service writes and the predictor reads."""
    return {
        "task": config.task,
        "base_model": config.base_model,
        "base_model_path": config.base_model,
        "architecture": outcome.architecture,
        "labels": outcome.extra.get("labels", []),
        "lora_enabled": config.lora.enabled,
        "quantization": config.lora.quantization,
        "max_seq_length": config.training.max_seq_length,
    }


@dataclass
class TrainedRun:
    config: TrainConfig
    run_dir: Path
    outcome: TrainOutcome
    recorder: Recorder
    test_rows: List[SFTExample]

    @property
    def info(self) -> Dict[str, Any]:
        return info_for(self.config, self.outcome)
