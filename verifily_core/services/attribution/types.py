"""The attribute use case's value types: the study's flags, its progress callbacks and its report.

They live apart from the entry points (``attribution.attribute``) so that the study runner
(``attribution.runner``) can share them without an import cycle.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable, Dict, Mapping, Optional, Sequence

from verifily_core.domain.attribution import PlannedRun
from verifily_core.domain.data_mixing import SOURCE_TAG
from verifily_core.domain.significance import DEFAULT_MIN_SLICE_N, DEFAULT_N_BOOT
from verifily_core.domain.training import TrainCallbacks

SPEC_VERSION = 1


@dataclass(frozen=True)
class AttributeSettings:
    """The study's flags: tag key, seeds, budget, metric, slices, the bootstrap, and whether each
    value gets a same-size control (without it, "less data" and "this source" look alike)."""

    by: str = SOURCE_TAG
    seeds: int = 1
    budget: Optional[int] = None
    metric: Optional[str] = None
    slice_by: Optional[Sequence[str]] = None
    n_boot: int = DEFAULT_N_BOOT
    seed: int = 0
    min_slice_n: int = DEFAULT_MIN_SLICE_N
    control: bool = True  # a same-size control run per value (as many random rows removed)


@dataclass
class AttributeCallbacks:
    """Progress without printing; every callback is optional.

    ``on_plan(results)`` comes before any training; ``on_estimate(seconds_per_run, runs_left)`` after
    the first run this process trained, measured on it.
    """

    on_plan: Optional[Callable[[Mapping[str, Any]], None]] = None
    on_estimate: Optional[Callable[[float, int], None]] = None
    on_run_start: Optional[Callable[[int, int, PlannedRun], None]] = None
    on_run_end: Optional[Callable[[Mapping[str, Any]], None]] = None
    train: Optional[TrainCallbacks] = None


@dataclass
class AttributionReport:
    """What a study returns: its folder and the ``attribute_results.json`` document."""

    study_id: str
    study_dir: str
    results: Dict[str, Any]


__all__ = ["SPEC_VERSION", "AttributeCallbacks", "AttributeSettings", "AttributionReport"]
