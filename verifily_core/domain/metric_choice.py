"""Which metric a comparison, a study or an attribution reads, and which way of it is better.

Why apart from ``domain.compare``: tuning and attribution choose and orient metrics too, and none of
them should need the comparison table for it. Everything here is read from the metric registry
(``domain.metrics.METRICS``: ``primary``, ``aliases``, ``lower_is_better``), so a new metric gets a
direction and can become a default by its entry alone.
"""

from __future__ import annotations

from typing import Optional, Tuple

from verifily_core.domain import metrics


def lower_is_better(name: str) -> bool:
    """Whether a smaller value of the metric ``name`` is the better one (perplexity)."""
    return any(spec.lower_is_better for spec in metrics.METRICS if spec.name == name)


def default_metric(task: str) -> str:
    """The task's primary metric (``f1`` for SFT, ``macro_f1`` for classification): what compare,
    tune and attribute use when none is named. A run of no known task is read as SFT."""
    primary = {t: spec.name for spec in metrics.METRICS if spec.primary for t in spec.tasks}
    return primary.get(task, primary[metrics.SFT])


def resolve_metric(task: str, metric: str) -> Tuple[str, Optional[str]]:
    """``(metric to read, note to show)``: an alias of the task becomes its metric, with a note.

    The guide's examples compare with ``--metric f1`` whatever the task: for classification runs
    the F1 there is the macro F1 (the mean F1 over classes), so ``f1`` is an alias of ``macro_f1``.
    """
    for spec in metrics.registry().get(task, {}).values():
        if metric in spec.aliases:
            return spec.name, f"--metric {metric} on {task} runs is {spec.name} ({spec.description})."
    return metric, None


__all__ = ["default_metric", "lower_is_better", "resolve_metric"]
