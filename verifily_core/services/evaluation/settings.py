"""The settings of one evaluation, resolved once: the caller's arguments, then the run's config.

Resolving them in one place means every later step (loading the model, reusing saved predictions,
scoring) reads the same metrics, slices and sizes, and a bad value fails before the model is loaded.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Dict, List, Mapping, Optional, Sequence

from verifily_core.config import Eval, TrainConfig
from verifily_core.config.sections import DEVICE_PATTERN
from verifily_core.domain import metrics as m
from verifily_core.errors import EvaluationError


@dataclass(frozen=True)
class EvalSettings:
    """The resolved inputs of one evaluation: arguments first, then the run's config."""

    task: str
    metrics: List[str]
    slice_by: List[str]
    hard_examples_n: int
    batch_size: int
    device: Optional[str]
    max_new_tokens: int
    num_beams: int
    labels: List[str]


def resolve_settings(
    info: Mapping[str, Any],
    config: Optional[TrainConfig],
    *,
    metrics: Optional[Sequence[str]] = None,
    slice_by: Optional[Sequence[str]] = None,
    hard_examples_n: Optional[int] = None,
    device: Optional[str] = None,
    batch_size: Optional[int] = None,
) -> EvalSettings:
    """Arguments override the run config's ``eval:`` section, which overrides the defaults."""
    task = str(info.get("task") or (config.task if config else ""))
    section = config.eval if config else Eval()
    requested = metrics if metrics is not None else section.metrics or m.default_metrics(task)
    names = m.check_metrics(task, requested)
    n = hard_examples_n if hard_examples_n is not None else section.hard_examples
    size = batch_size if batch_size is not None else section.batch_size
    if n < 0:
        raise EvaluationError(f"hard_examples must be 0 or more, got {n}.")
    if size < 1:
        raise EvaluationError(f"batch_size must be at least 1, got {size}.")
    if device is not None and not DEVICE_PATTERN.match(device):
        # checked here, up front: a reused predictions file would otherwise never meet the device
        raise EvaluationError(
            f"--device {device!r} is not a device; allowed: auto, cpu, mps, cuda, cuda:N.",
            hint="e.g. --device cpu",
        )
    return EvalSettings(
        task=task,
        metrics=names,
        slice_by=list(
            dict.fromkeys(
                k.strip()
                for k in (slice_by if slice_by is not None else section.slice_by_tags or [])
                if k.strip()
            )
        ),
        hard_examples_n=n,
        batch_size=size,
        device=device or (config.compute.device if config else None),
        max_new_tokens=section.generation_max_new_tokens,
        num_beams=section.generation_num_beams,
        labels=[str(x) for x in info.get("labels") or sorted(info.get("label2id") or {})],
    )


def needs(settings: EvalSettings) -> Dict[str, bool]:
    """Which model outputs (``metrics.INPUTS``) the requested metrics need (``MetricSpec.needs``);
    nothing else is computed."""
    return m.needed_inputs(settings.task, settings.metrics)


__all__ = ["EvalSettings", "needs", "resolve_settings"]
