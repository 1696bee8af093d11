"""The evaluate use case: a trained run + test data -> metrics, slices, hard examples, predictions.

Inputs come from the run folder (``training_info.json`` for the task, labels and test file;
``config.yaml`` for the ``eval:`` section) and are overridden by the caller's arguments. The model
is loaded through the ModelBackend port only when predictions are needed: ``from_predictions=True``
recomputes everything from ``eval/predictions.jsonl``, and the saved predictions are reused
automatically when the test file's sha256 is the one they were made from (and they hold what the
requested metrics need). Files are written through the store, predictions first and
``eval_results.json`` last, each atomically.

Nothing is read from the run folder before its seal is checked: the frozen config, the training
info, the weights and tokenizer, and everything under ``eval/`` (saved predictions are reused only
as sealed) must match ``hashes.json`` (an :class:`IntegrityError` naming each file otherwise, exit 1).
After writing, exactly the files written are re-sealed, so a tampered prediction can never be
laundered into sealed metrics.

This module is the use case's public face (``evaluate_run`` and, re-exported, its settings and
callback types); the steps live beside it: ``evaluate_settings`` (arguments over the run's config),
``evaluate_inputs`` (the run folder and test file), ``evaluate_predict`` (the model, through the
port) and ``evaluate_saved`` (reusing or recomputing from saved predictions).
"""

from __future__ import annotations

import logging
import time
from pathlib import Path
from typing import Any, Callable, List, Mapping, Optional, Sequence, Union

from verifily_core.domain.evaluation import EvalResult, Record, render_slices, score_records, unseen_labels
from verifily_core.domain.examples import Example
from verifily_core.domain.runs import CONFIG_FILE, EVAL_DIR, TRAINING_INFO
from verifily_core.domain.slicing import PredictionTable, check_slice_keys
from verifily_core.domain.trivial_baselines import trivial_baselines
from verifily_core.ports.artifact_store import ArtifactStore
from verifily_core.ports.model_backend import ModelBackend
from verifily_core.services.evaluation.inputs import (
    check_weights,
    evaluation_files,
    main_evaluation_source,
    read_run_config,
    read_test_data,
    read_training_info,
)
from verifily_core.services.evaluation.predict import ProgressFn, predict
from verifily_core.services.evaluation.saved import reusable_predictions, saved_predictions
from verifily_core.services.evaluation.settings import EvalSettings, resolve_settings
from verifily_core.services.run_folder.seal import check_seal, reseal

logger = logging.getLogger("verifily")

EventFn = Callable[[str, Mapping[str, Any]], None]
"""``on_event(name, payload)`` with ``eval_start`` and ``eval_end`` (billing, trackers)."""


def evaluate_run(
    store: ArtifactStore,
    run_id: str,
    backend: ModelBackend,
    *,
    test_data: Union[str, Sequence[str], None] = None,
    metrics: Optional[Sequence[str]] = None,
    slice_by: Optional[Sequence[str]] = None,
    hard_examples_n: Optional[int] = None,
    device: Optional[str] = None,
    batch_size: Optional[int] = None,
    from_predictions: bool = False,
    reuse_predictions: bool = True,
    progress: Optional[ProgressFn] = None,
    on_event: Optional[EventFn] = None,
    name: Optional[str] = None,
    signing_key: Optional[Path] = None,
) -> EvalResult:
    """Evaluate a trained run; see the module docstring. Raises EvaluationError/DataError on bad input.

    ``test_data`` other than the run's own test set is a separate evaluation in ``eval/<name>/``
    (``name``, else derived from the file name), so the run's main result in ``eval/`` stays.
    """
    started = time.monotonic()
    store.location(run_id)  # RunNotFoundError for a run that is not there
    # what an evaluation reads, all checked against the seal: IntegrityError before anything is read
    layout = backend.artifact_layout()
    chain = check_seal(store, run_id, (CONFIG_FILE, TRAINING_INFO, *layout.loaded, EVAL_DIR))
    info = read_training_info(store, run_id)
    files = evaluation_files(name, test_data, info, main_evaluation_source(store, run_id))
    settings = resolve_settings(
        info,
        read_run_config(store, run_id),
        metrics=metrics,
        slice_by=slice_by,
        hard_examples_n=hard_examples_n,
        device=device,
        batch_size=batch_size,
    )
    examples: Sequence[Example] = ()
    if from_predictions:
        records: Optional[List[Record]]
        records, test_path, sha = saved_predictions(store, run_id, test_data, settings, files)
        check_slice_keys(settings.slice_by, [r.get("tags") for r in records])
    else:
        test_path, examples, sha = read_test_data(test_data, info, run_id, settings)
        check_weights(store, run_id, info, layout.weights)  # reused predictions need a model that exists
        records = (
            reusable_predictions(store, run_id, sha, examples, settings, files) if reuse_predictions else None
        )
    reused = records is not None
    _emit(
        on_event,
        "eval_start",
        {
            "run_id": run_id,
            "task": settings.task,
            "test_data_path": test_path,
            "num_examples": len(records) if records is not None else len(examples),
        },
    )
    if records is None:
        records = predict(store, run_id, backend, info, examples, settings, progress)
    elif not from_predictions:
        logger.info("Reusing %s of %s (same test data sha256)", files.predictions, run_id)
    result = _result(run_id, test_path, sha, records, settings, reused)
    result.evaluation = files.name or "main"
    result.trivial_baselines = trivial_baselines(settings.task, examples, info.get("label_counts"))
    result.eval_duration_seconds = round(time.monotonic() - started, 3)
    store.write_jsonl(run_id, files.predictions, records)
    store.write_jsonl(run_id, files.hard_examples, result.hard_examples)
    store.write_json(run_id, files.results, result.to_dict())
    reseal(
        store, run_id, chain, [files.predictions, files.hard_examples, files.results], signing_key=signing_key
    )
    _emit(
        on_event,
        "eval_end",
        {
            "run_id": run_id,
            "task": settings.task,
            "num_examples": result.num_examples,
            "eval_duration_seconds": result.eval_duration_seconds,
            "from_predictions": reused,
        },
    )
    return result


def _result(
    run_id: str,
    test_path: str,
    sha: Optional[str],
    records: List[Record],
    settings: EvalSettings,
    reused: bool,
) -> EvalResult:
    score_records(records, settings.task, settings.metrics)
    table = PredictionTable(records, settings.task, settings.metrics)
    unseen = unseen_labels(records, settings.labels) if settings.task == "classification" else {}
    if unseen:
        logger.warning(
            "Test labels never seen in training (always wrong): %s",
            ", ".join(f"{k} ({v})" for k, v in unseen.items()),
        )
    return EvalResult(
        run_id=run_id,
        test_data_path=test_path,
        num_examples=len(records),
        overall=table.overall(settings.labels),
        slices=table.slices(settings.slice_by, settings.labels),
        hard_examples=table.hard_examples(settings.hard_examples_n),
        task=settings.task,
        metrics=settings.metrics,
        slice_by=settings.slice_by,
        test_data_sha256=sha,
        unseen_labels=unseen,
        from_predictions=reused,
    )


def _emit(on_event: Optional[EventFn], name: str, payload: Mapping[str, Any]) -> None:
    if on_event:
        on_event(name, payload)


__all__ = ["EvalSettings", "EventFn", "ProgressFn", "evaluate_run", "render_slices", "resolve_settings"]
