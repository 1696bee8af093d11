"""The evaluate use case: a trained run + test data -> metrics, slices, hard examples, predictions.

Inputs come from the run folder (``training_info.json`` for the task, labels and test file;
``config.yaml`` for the ``eval:`` section) and are overridden by the caller's arguments. The model
is loaded through the ModelBackend port only when predictions are needed: ``from_predictions=True``
recomputes everything from ``eval/predictions.jsonl``, and the saved predictions are reused
automatically when the test file's sha256 is the one they were made from (and they hold what the
requested metrics need). Files are written through the store, predictions first and
``eval_results.json`` last, each atomically.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Dict, List, Mapping, Optional, Sequence

import yaml

from verifily_core.config import Eval, TrainConfig
from verifily_core.domain import metrics as m
from verifily_core.domain.data import load_examples
from verifily_core.domain.evaluation import (
    SCORES,
    EvalResult,
    Record,
    build_records,
    render_slices,
    score_records,
    unseen_labels,
)
from verifily_core.domain.examples import ClassificationExample, Example, SFTExample
from verifily_core.domain.hashchain import sha256_file
from verifily_core.domain.runs import (
    ADAPTER_DIR,
    CONFIG_FILE,
    EVAL_RESULTS,
    HARD_EXAMPLES,
    MODEL_DIR,
    PREDICTIONS,
    RUN_META,
    TRAINING_INFO,
)
from verifily_core.domain.slicing import PredictionTable, check_slice_keys
from verifily_core.errors import BackendError, EvaluationError, StoreError
from verifily_core.ports.artifact_store import ArtifactStore
from verifily_core.ports.model_backend import ModelBackend, Predictor
from verifily_core.services.seal import seal_artifacts

logger = logging.getLogger("verifily")

ProgressFn = Callable[[int, int], None]
"""``progress(done, total)``: predictions made so far over all model passes (generation, loss)."""
EventFn = Callable[[str, Mapping[str, Any]], None]
PredictFn = Callable[[Sequence[Any]], Sequence[Any]]
"""``on_event(name, payload)`` with ``eval_start`` and ``eval_end`` (billing, trackers)."""

CHUNK_BATCHES = 8  # batches per predictor call: long enough to sort by length, short enough to report


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


def evaluate_run(
    store: ArtifactStore,
    run_id: str,
    backend: ModelBackend,
    *,
    test_data: Optional[str] = None,
    metrics: Optional[Sequence[str]] = None,
    slice_by: Optional[Sequence[str]] = None,
    hard_examples_n: Optional[int] = None,
    device: Optional[str] = None,
    batch_size: Optional[int] = None,
    from_predictions: bool = False,
    reuse_predictions: bool = True,
    progress: Optional[ProgressFn] = None,
    on_event: Optional[EventFn] = None,
) -> EvalResult:
    """Evaluate a trained run; see the module docstring. Raises EvaluationError/DataError on bad input."""
    started = time.monotonic()
    store.location(run_id)  # RunNotFoundError for a run that is not there
    info = _training_info(store, run_id)
    settings = resolve_settings(
        info,
        _run_config(store, run_id),
        metrics=metrics,
        slice_by=slice_by,
        hard_examples_n=hard_examples_n,
        device=device,
        batch_size=batch_size,
    )
    examples: Sequence[Example] = ()
    if from_predictions:
        records: Optional[List[Record]]
        records, test_path, sha = _saved_predictions(store, run_id, test_data, settings)
        check_slice_keys(settings.slice_by, [r.get("tags") for r in records])
    else:
        test_path, examples, sha = _test_examples(test_data, info, run_id, settings)
        _check_weights(store, run_id)  # reused predictions still belong to a model that must exist
        records = _reusable_predictions(store, run_id, sha, examples, settings) if reuse_predictions else None
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
        records = _predict(store, run_id, backend, info, examples, settings, progress)
    elif not from_predictions:
        logger.info("Reusing eval/predictions.jsonl of %s (same test data sha256)", run_id)
    result = _result(run_id, test_path, sha, records, settings, reused)
    result.eval_duration_seconds = round(time.monotonic() - started, 3)
    store.write_jsonl(run_id, PREDICTIONS, records)
    store.write_jsonl(run_id, HARD_EXAMPLES, result.hard_examples)
    store.write_json(run_id, EVAL_RESULTS, result.to_dict())
    seal_artifacts(store, run_id, [EVAL_RESULTS], only_if_sealed=True)
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


# ---------------------------------------------------------------------------- run folder inputs


def _training_info(store: ArtifactStore, run_id: str) -> Dict[str, Any]:
    if not store.exists(run_id, TRAINING_INFO):
        raise EvaluationError(
            f"training_info.json not found in run {run_id} ({store.local_dir(run_id)}).",
            hint="The run may have been interrupted before saving this file. Check that training "
            f"completed (status: completed in {RUN_META}).",
        )
    info = store.read_json(run_id, TRAINING_INFO)
    if not isinstance(info, dict) or info.get("task") not in m.REGISTRY:
        raise EvaluationError(f"{TRAINING_INFO} of run {run_id} names no known task (sft, classification).")
    return info


def _run_config(store: ArtifactStore, run_id: str) -> Optional[TrainConfig]:
    """The frozen config of the run, or None for a run folder written without one."""
    if not store.exists(run_id, CONFIG_FILE):
        return None
    return TrainConfig.from_dict(yaml.safe_load(store.read_text(run_id, CONFIG_FILE)))


def _test_examples(
    test_data: Optional[str],
    info: Mapping[str, Any],
    run_id: str,
    settings: EvalSettings,
) -> tuple[str, List[Example], str]:
    """The test file (argument, else the run's data_paths.test), its examples and its sha256."""
    path = test_data or (info.get("data_files") or {}).get("test")
    if not path:
        raise EvaluationError(
            f"No test data for run {run_id}: data_paths.test was not set when it was trained.",
            hint="Pass --test-data PATH (or test_data=... in Python).",
        )
    examples = load_examples(path, settings.task)  # DataError for a missing, empty or bad file
    check_slice_keys(settings.slice_by, [ex.tags for ex in examples])
    return str(path), examples, sha256_file(path)


# ---------------------------------------------------------------------------- predictions


def _needs(settings: EvalSettings) -> Dict[str, bool]:
    """Which model outputs the requested metrics need (nothing else is computed)."""
    if settings.task == "classification":
        return {"classify": True, "generate": False, "perplexity": False}
    return {
        "classify": False,
        "generate": any(n in m.TEXT_METRICS for n in settings.metrics),
        "perplexity": "perplexity" in settings.metrics,
    }


def _check_weights(store: ArtifactStore, run_id: str) -> Path:
    """The run's folder, if it holds trained weights; a run without them has nothing to evaluate."""
    run_dir = Path(store.local_dir(run_id))
    if not any((run_dir / d).is_dir() for d in (ADAPTER_DIR, MODEL_DIR)):
        raise EvaluationError(
            f"Run folder {run_dir} has no {ADAPTER_DIR}/ or {MODEL_DIR}/ folder: "
            "no trained model to evaluate.",
            hint=f"Check that training completed (status: completed in {RUN_META}), or train the run again.",
        )
    return run_dir


def _predict(
    store: ArtifactStore,
    run_id: str,
    backend: ModelBackend,
    info: Mapping[str, Any],
    examples: Sequence[Example],
    settings: EvalSettings,
    progress: Optional[ProgressFn],
) -> List[Record]:
    run_dir = _check_weights(store, run_id)
    needs = _needs(settings)
    predictor = backend.load(Path(run_dir), info, device=settings.device)
    size = settings.batch_size
    batched = _Chunked(size * CHUNK_BATCHES, len(examples) * sum(needs.values()), progress)
    try:
        if needs["classify"]:
            texts = [ex for ex in examples if isinstance(ex, ClassificationExample)]
            labels = batched(lambda c: predictor.classify(c, batch_size=size), texts, "classify")
            return build_records(examples, class_predictions=labels)
        sft = [ex for ex in examples if isinstance(ex, SFTExample)]
        generated = losses = None
        if needs["generate"]:
            generated = batched(lambda c: _generate(predictor, c, settings), sft, "generate")
        if needs["perplexity"]:
            losses = batched(lambda c: predictor.reference_loss(c, batch_size=size), sft, "perplexity")
        return build_records(examples, predictions=generated, losses=losses)
    finally:
        predictor.close()


def _generate(predictor: Predictor, chunk: Sequence[SFTExample], settings: EvalSettings) -> List[str]:
    return predictor.generate(
        chunk,
        max_new_tokens=settings.max_new_tokens,
        num_beams=settings.num_beams,
        batch_size=settings.batch_size,
    )


class _Chunked:
    """Calls the predictor a chunk at a time, so that one progress can be reported across passes."""

    def __init__(self, chunk_size: int, total: int, progress: Optional[ProgressFn]) -> None:
        self.chunk_size = chunk_size
        self.total = total
        self.progress = progress
        self.done = 0
        if progress:
            progress(0, total)

    def __call__(self, call: PredictFn, items: Sequence[Any], stage: str) -> List[Any]:
        out: List[Any] = []
        for start in range(0, len(items), self.chunk_size):
            chunk = items[start : start + self.chunk_size]
            answers = list(call(chunk))
            if len(answers) != len(chunk):
                raise BackendError(
                    f"The model backend returned {len(answers)} {stage} results for {len(chunk)} examples."
                )
            out.extend(answers)
            self.done += len(chunk)
            if self.progress:
                self.progress(self.done, self.total)
        return out


def _missing_outputs(records: Sequence[Record], settings: EvalSettings) -> List[str]:
    """Requested metrics that saved records cannot give (they lack the model output it needs)."""
    needs = _needs(settings)
    missing: List[str] = []
    if (needs["generate"] or needs["classify"]) and not all("prediction" in r for r in records):
        missing += [n for n in settings.metrics if n != "perplexity"]
    if needs["classify"] and not all("true_label_probability" in r for r in records):
        missing.append("hard examples (true_label_probability)")
    if needs["perplexity"] and not all("nll_sum" in (r.get(SCORES) or {}) for r in records):
        missing.append("perplexity")
    return missing


def _reusable_predictions(
    store: ArtifactStore,
    run_id: str,
    sha: str,
    examples: Sequence[Example],
    settings: EvalSettings,
) -> Optional[List[Record]]:
    """Saved predictions made from this very test file, when they hold all the metrics need."""
    try:
        if not (store.exists(run_id, PREDICTIONS) and store.exists(run_id, EVAL_RESULTS)):
            return None
        if store.read_json(run_id, EVAL_RESULTS).get("test_data_sha256") != sha:
            return None
        records = list(store.iter_jsonl(run_id, PREDICTIONS))
    except (StoreError, AttributeError):
        return None
    same_rows = len(records) == len(examples) and all(
        isinstance(r, dict) and r.get("reference") == ex.target for r, ex in zip(records, examples)
    )
    if not same_rows or _missing_outputs(records, settings):
        return None
    return records


def _saved_predictions(
    store: ArtifactStore,
    run_id: str,
    test_data: Optional[str],
    settings: EvalSettings,
) -> tuple[List[Record], str, Optional[str]]:
    """Records, test data path and sha256 for ``from_predictions``; errors say how to get them."""
    rerun = f"Run eval-cmd --run {store.local_dir(run_id)} without --from-predictions."
    if not store.exists(run_id, PREDICTIONS):
        raise EvaluationError(f"Run {run_id} has no {PREDICTIONS} to recompute from.", hint=rerun)
    previous = store.read_json(run_id, EVAL_RESULTS) if store.exists(run_id, EVAL_RESULTS) else {}
    sha = previous.get("test_data_sha256")
    path = str(test_data or previous.get("test_data_path") or "")
    if test_data and sha and sha256_file(test_data) != sha:
        raise EvaluationError(
            f"{PREDICTIONS} of run {run_id} was made from other test data than {test_data} "
            f"({previous.get('test_data_path')}).",
            hint=rerun,
        )
    records = list(store.iter_jsonl(run_id, PREDICTIONS))
    if not records:
        raise EvaluationError(f"{PREDICTIONS} of run {run_id} is empty.", hint=rerun)
    missing = _missing_outputs(records, settings)
    if missing:
        raise EvaluationError(f"{PREDICTIONS} of run {run_id} cannot give: {', '.join(missing)}.", hint=rerun)
    return records, path, sha


# ---------------------------------------------------------------------------- results


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
