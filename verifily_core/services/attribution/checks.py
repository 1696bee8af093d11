"""Checks of an attribution study before any run: a study that fails on its last run wastes hours.

Everything a study needs is checked up front (a test set, the metric, the tag key and its values in
the training data, the slice keys in the test data, the bootstrap settings), and each failure is an
AttributionError that says how to fix it.
"""

from __future__ import annotations

from typing import Dict, List

from verifily_core.config import TrainConfig
from verifily_core.domain import metrics, slicing
from verifily_core.domain.data_files import resolve_data_files
from verifily_core.domain.data_mixing import SOURCE_TAG, load_eval_examples
from verifily_core.domain.metric_choice import default_metric
from verifily_core.errors import AttributionError
from verifily_core.services.attribution.data import training_files
from verifily_core.services.attribution.types import AttributeSettings


def check_study(
    config: TrainConfig,
    settings: AttributeSettings,
    where: str,
) -> tuple[str, List[str], Dict[str, int]]:
    """The metric, the slice keys and the rows per tag value; AttributionError saying how to fix."""
    if not config.data_paths.test:
        raise AttributionError(
            f"verifily attribute measures every run on one test set, but data_paths.test is not set{where}.",
            hint="Add 'data_paths.test: <test.jsonl>' to the config.",
        )
    if settings.n_boot < 1 or settings.min_slice_n < 1:
        raise AttributionError(
            "--bootstrap and --min-slice-n must be at least 1, "
            f"got {settings.n_boot} and {settings.min_slice_n}."
        )
    metric = settings.metric or default_metric(config.task)
    spec = metrics.find_spec(config.task, metric)
    if spec is None or not spec.scalar:
        names = metrics.scalar_metrics(config.task, metrics.available_metrics(config.task))
        raise AttributionError(
            f"Unknown metric {metric!r} for task {config.task}.", hint=f"Use one of: {', '.join(names)}."
        )
    if config.eval.metrics and metric not in config.eval.metrics:
        raise AttributionError(
            f"--metric {metric} is not among eval.metrics{where} ({', '.join(config.eval.metrics)}).",
            hint=f"Add {metric} to eval.metrics, or set eval.metrics: null.",
        )
    rows = [e for _path, file_rows in training_files(config) for e in file_rows]
    tags = [dict(e.tags) for e in rows]
    counts: Dict[str, int] = {}
    for t in tags:
        if t.get(settings.by) is not None:
            value = slicing.slice_value(t[settings.by])
            counts[value] = counts.get(value, 0) + 1
    if len(counts) < 2:
        present = ", ".join(slicing.tag_keys(tags)) or "none"
        found = f"only one value ({next(iter(counts))})" if counts else "no row with that key"
        raise AttributionError(
            f"--by {settings.by}: the training data has {found}; leave-one-out needs two "
            f"or more values. Tag keys in the training data: {present}.",
            hint="Pick a key with several values, or list several files in "
            f"data_paths.train (each file is a value of {SOURCE_TAG}).",
        )
    test = load_eval_examples(resolve_data_files(config)["test"], config.task)
    test_tags = [dict(e.tags) for e in test]
    if settings.slice_by is not None:
        keys = list(settings.slice_by)
    else:
        keys = list(config.eval.slice_by_tags or [])
        keys = keys or ([settings.by] if any(settings.by in t for t in test_tags) else [])
    slicing.check_slice_keys(keys, test_tags)
    return metric, keys, counts


__all__ = ["check_study"]
