"""The Compare tab: the same ``services.compare`` as ``compare-cmd``, laid out as tables.

Run ids are checked against the folder's listing first and then passed to the service as paths
under the one store, so the numbers on the page are exactly those ``compare-cmd`` prints.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, List, Mapping, Optional, Sequence, Tuple

from verifily_cli.dashboard.data import (
    MAIN,
    as_mapping,
    checked_run_id,
    main_metric,
    number,
    rounded,
    run_evaluations,
)
from verifily_core.domain.compare import CompareResult
from verifily_core.domain.runs import EvalFiles
from verifily_core.errors import StoreError
from verifily_core.ports.artifact_store import ArtifactStore
from verifily_core.services.comparison.compare import compare

OVERALL_HEADERS = ("Run", "Overall", "Delta vs first", "n")
SLICE_HEADERS = ("Slice", "Run", "Value", "Delta vs first", "n")
Table = Tuple[List[str], List[List[Any]]]


def _results(store: ArtifactStore, run_id: str, evaluation: Optional[str] = None) -> Mapping[str, Any]:
    results = EvalFiles(evaluation).results
    if not store.exists(run_id, results):
        return {}
    try:
        return as_mapping(store.read_json(run_id, results))
    except StoreError:
        return {}


def evaluation_choices(store: ArtifactStore, run_ids: Sequence[str]) -> List[str]:
    """``main`` and every named evaluation (``eval/<name>/``) that all chosen runs have."""
    named = [set(run_evaluations(store, checked_run_id(store, i))) for i in run_ids]
    shared = set.intersection(*named) if named else set()
    return [MAIN, *sorted(shared)]


def metric_choices(
    store: ArtifactStore, run_ids: Sequence[str], evaluation: Optional[str] = None
) -> Tuple[List[str], Optional[str]]:
    """Scalar overall metrics that every chosen (evaluated) run has, in the first run's order, and
    the one to preselect: the task's headline metric (``compare-cmd``'s default) when shared."""
    evaluation = _named(evaluation)
    results = [_results(store, checked_run_id(store, i), evaluation) for i in run_ids]
    evaluated = [r for r in results if as_mapping(r.get("overall"))]
    if not evaluated:
        return [], None
    overalls = [as_mapping(r.get("overall")) for r in evaluated]
    choices = [m for m in overalls[0] if all(number(o.get(m)) is not None for o in overalls)]
    preferred = main_metric(str(evaluated[0].get("task") or ""), {m: overalls[0][m] for m in choices})
    return choices, preferred


def shared_slice_keys(
    store: ArtifactStore, run_ids: Sequence[str], evaluation: Optional[str] = None
) -> List[str]:
    """Slice keys present in every chosen run's results (recorded ones, in the first run's order)."""
    key_lists = [[str(k) for k in as_mapping(_results(store, r, evaluation).get("slices"))] for r in run_ids]
    if not key_lists:
        return []
    return [k for k in key_lists[0] if all(k in keys for keys in key_lists[1:])]


def compare_runs(
    store: ArtifactStore, run_ids: Sequence[str], metric: Optional[str], evaluation: Optional[str] = None
) -> CompareResult:
    """Compare the chosen runs (the first is the baseline) on one of their evaluations (the main one
    by default); CompareError as ``compare-cmd`` raises it."""
    ids = [checked_run_id(store, r) for r in run_ids]
    evaluation = _named(evaluation)
    root = Path(store.root)
    return compare(
        [root / r for r in ids],
        metric or None,
        shared_slice_keys(store, ids, evaluation),
        store_factory=lambda _root: store,
        evaluation=evaluation,
    )


def _named(evaluation: Optional[str]) -> Optional[str]:
    """The dropdown's ``main`` is the unnamed main evaluation."""
    return None if not evaluation or evaluation == MAIN else evaluation


def overall_table(result: CompareResult) -> Table:
    rows = [
        [r, rounded(result.overall[r]), rounded(result.deltas[r]), result.num_examples.get(r)]
        for r in result.runs
    ]
    return list(OVERALL_HEADERS), rows


def slice_table(result: CompareResult) -> Table:
    rows = [
        [f"{key}={value}", run, rounded(cell["value"]), rounded(cell["delta"]), cell["n"]]
        for key, table in result.slices.items()
        for value, row in table.items()
        for run, cell in row.items()
    ]
    return list(SLICE_HEADERS), rows


def config_diff_table(result: CompareResult) -> Table:
    runs = [r for r in result.runs if any(r in values for values in result.config_diff.values())]
    rows = [[key, *(_shown(values.get(r)) for r in runs)] for key, values in result.config_diff.items()]
    return ["Config key", *runs], rows


def _shown(value: Any) -> str:
    if value is None:
        return "(not set)"
    return value if isinstance(value, str) else json.dumps(value)
