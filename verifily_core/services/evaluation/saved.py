"""Saved predictions (``eval/predictions.jsonl``): reused when safe, or recomputed from on request.

Reuse saves a model load and a full pass over the test set, but only when the predictions were made
from this very test file (same sha256, same references) and hold every output the requested metrics
need; otherwise they are ignored (reuse) or refused with a fix (``from_predictions``).
"""

from __future__ import annotations

from typing import List, Optional, Sequence, Union

from verifily_core.domain import metrics as m
from verifily_core.domain.evaluation import SCORES, Record
from verifily_core.domain.examples import Example
from verifily_core.domain.hashchain import files_digest
from verifily_core.domain.runs import EvalFiles
from verifily_core.errors import EvaluationError, StoreError
from verifily_core.ports.artifact_store import ArtifactStore
from verifily_core.services.evaluation.settings import EvalSettings, needs

MAIN_EVAL = EvalFiles()


def missing_outputs(records: Sequence[Record], settings: EvalSettings) -> List[str]:
    """Requested metrics that saved records cannot give (they lack the model output it needs)."""
    specs = [m.metric_spec(settings.task, name) for name in settings.metrics]
    missing: List[str] = []
    if not all("prediction" in r for r in records):
        missing += [s.name for s in specs if s.needs & {m.GENERATE, m.CLASSIFY}]
    if needs(settings)[m.CLASSIFY] and not all("true_label_probability" in r for r in records):
        missing.append("hard examples (true_label_probability)")
    for spec in (s for s in specs if m.REFERENCE_LOSS in s.needs):
        if not all(f in (r.get(SCORES) or {}) for r in records for f in spec.fields):
            missing.append(spec.name)
    return missing


def reusable_predictions(
    store: ArtifactStore,
    run_id: str,
    sha: str,
    examples: Sequence[Example],
    settings: EvalSettings,
    files: EvalFiles = MAIN_EVAL,
) -> Optional[List[Record]]:
    """Saved predictions made from this very test file, when they hold all the metrics need."""
    try:
        if not (store.exists(run_id, files.predictions) and store.exists(run_id, files.results)):
            return None
        if store.read_json(run_id, files.results).get("test_data_sha256") != sha:
            return None
        records = list(store.iter_jsonl(run_id, files.predictions))
    except (StoreError, AttributeError):
        return None
    same_rows = len(records) == len(examples) and all(
        isinstance(r, dict) and r.get("reference") == ex.target for r, ex in zip(records, examples)
    )
    if not same_rows or missing_outputs(records, settings):
        return None
    return records


def saved_predictions(
    store: ArtifactStore,
    run_id: str,
    test_data: Union[str, Sequence[str], None],
    settings: EvalSettings,
    files: EvalFiles = MAIN_EVAL,
) -> tuple[List[Record], str, Optional[str]]:
    """Records, test data path and sha256 for ``from_predictions``; errors say how to get them."""
    rerun = f"Run eval-cmd --run {store.local_dir(run_id)} without --from-predictions."
    predictions = files.predictions
    if not store.exists(run_id, predictions):
        raise EvaluationError(f"Run {run_id} has no {predictions} to recompute from.", hint=rerun)
    previous = store.read_json(run_id, files.results) if store.exists(run_id, files.results) else {}
    sha = previous.get("test_data_sha256")
    listed = [test_data] if isinstance(test_data, str) else list(test_data or [])
    path = ", ".join(listed) or str(previous.get("test_data_path") or "")
    if listed and sha and files_digest(listed) != sha:
        raise EvaluationError(
            f"{predictions} of run {run_id} was made from other test data than {test_data} "
            f"({previous.get('test_data_path')}).",
            hint=rerun,
        )
    records = list(store.iter_jsonl(run_id, predictions))
    if not records:
        raise EvaluationError(f"{predictions} of run {run_id} is empty.", hint=rerun)
    missing = missing_outputs(records, settings)
    if missing:
        raise EvaluationError(f"{predictions} of run {run_id} cannot give: {', '.join(missing)}.", hint=rerun)
    return records, path, sha


__all__ = ["missing_outputs", "reusable_predictions", "saved_predictions"]
