"""The train use case: prepare, write the run folder, train through the backend, record everything.

The service owns the run folder's life cycle (``running`` → ``completed`` / ``failed`` /
``interrupted``) so that whatever happens inside a backend, ``run_meta.json`` tells the truth and
says how to continue. It never prints: progress goes to ``TrainCallbacks``, problems are raised.
"""

from __future__ import annotations

import logging
import shutil
import time
from pathlib import Path
from typing import Any, Callable, Dict, Mapping, Optional, Sequence

from verifily_core.config import TrainConfig
from verifily_core.domain.distributed import Ranks, worker_dir
from verifily_core.domain.runs import (
    CHECKPOINTS_DIR,
    DRY_RUN_PREFIX,
    RUN_META,
    TRAIN_SUMMARY,
    RunRecord,
    iso,
    utc_now,
)
from verifily_core.domain.training import TrainCallbacks, TrainOutcome, TrainRequest
from verifily_core.errors import BackendError, DataError, VerifilyError
from verifily_core.ports.artifact_store import ArtifactStore
from verifily_core.services.billing.tracker import BillingTracker, open_sinks
from verifily_core.services.run_folder.seal import seal_run
from verifily_core.services.training import ranks
from verifily_core.services.training.dependencies import TrainDependencies, TrainRun
from verifily_core.services.training.prepare import (
    PreparedRun,
    prepare,
    record_early_failure,
    write_run_folder,
)
from verifily_core.services.training.resume import load_for_resume
from verifily_core.services.training.run_lock import RunLock, remove_temp_files
from verifily_core.services.training.trackers import open_trackers

log = logging.getLogger("verifily")
#: while training, a remote store uploads what the backend wrote (checkpoints) this often, in seconds
SYNC_EVERY_S = 2.0


def summary_of(outcome: TrainOutcome) -> Dict[str, Any]:
    """``train_summary.json``: the figures a user checks after a run."""
    return {
        "global_step": outcome.global_step,
        "epochs": outcome.epochs,
        "train_loss": outcome.train_loss,
        "eval_loss": outcome.eval_loss,
        "wall_seconds": round(outcome.wall_seconds, 3),
        "tokens_processed": outcome.tokens_processed,
        "tokens_per_second": round(outcome.tokens_per_second, 2),
        "train_rows": outcome.train_rows,
        "truncated_rows": outcome.truncated_rows,
        "truncated_tokens": outcome.truncated_tokens,
        "device": outcome.device,
        "gpu_type": outcome.gpu_type,
        "num_gpus": outcome.num_gpus,
        "world_size": outcome.world_size,
        "per_device_batch_size": outcome.per_device_batch_size,
        "global_batch_size": outcome.global_batch_size,
        "architecture": outcome.architecture,
        "trainable_parameters": outcome.trainable_parameters,
        "total_parameters": outcome.total_parameters,
        "warnings": outcome.warnings,
        "log_history": outcome.log_history,
        **outcome.extra,
    }


def _metrics_of(outcome: TrainOutcome) -> Dict[str, Any]:
    metrics: Dict[str, Any] = {"train_loss": outcome.train_loss}
    if outcome.eval_loss is not None:
        metrics["eval_loss"] = outcome.eval_loss
    return metrics


def latest_checkpoint(
    run_dir: Path, complete: Callable[[Path], bool] = Path.is_dir, *, folder: str = CHECKPOINTS_DIR
) -> Optional[Path]:
    """The newest ``<folder>/checkpoint-N`` folder (by step number) that ``complete`` accepts;
    ``folder`` is the backend's checkpoints folder (``ModelBackend.artifact_layout``).

    Why ``complete``: a process killed while it writes a checkpoint leaves a partial newest folder;
    resuming from it fails, so the backend's ``checkpoint_is_complete`` decides and a partial one
    is skipped (and removed by :func:`_resume`).
    """
    found = run_dir / folder
    if not found.is_dir():
        return None
    numbered = [(p.name.split("-")[-1], p) for p in found.glob("checkpoint-*")]
    steps = sorted(((int(n), p) for n, p in numbered if n.isdigit()), reverse=True)
    return next((p for _step, p in steps if complete(p)), None)


def train(
    config: Optional[TrainConfig],
    deps: TrainDependencies,
    *,
    callbacks: Optional[TrainCallbacks] = None,
    dry_run: bool = False,
    model_check: bool = True,
    resume_run_id: Optional[str] = None,
    data_files: Optional[Mapping[str, Any]] = None,
    base_model_path: Optional[str] = None,
) -> TrainRun:
    """Train one run (or validate it with ``dry_run``) and return the guide's run object.

    A dry run validates config and data and, with ``model_check``, runs the backend's
    ``preflight`` (device, model files, tokenization of every row) so that it refuses what the real
    run would; without ``model_check`` it imports no framework. Its folder is ``dryrun_...``
    (status ``dry_run``), so a later real run of the same config gets the plain ``run_...`` id.
    ``resume_run_id`` continues that run from its own frozen config (``config`` is then None);
    ``data_files``/``base_model_path`` re-use another run's recorded resolution (``reproduce``).
    """
    store = deps.store
    if resume_run_id is not None:
        return _resume(resume_run_id, deps, callbacks)
    if config is None:
        raise ValueError("train() needs a config unless it resumes a run")
    place = ranks.current()
    if not dry_run and place.world_size > 1:
        return _train_rank(config, deps, callbacks, place)
    try:
        prepared = prepare(
            config,
            deps.backend,
            data_files=data_files,
            base_model_path=base_model_path,
            keep_examples=not (dry_run and not model_check),  # validation only: streamed, bounded memory
        )
    except (DataError, BackendError) as exc:
        if not dry_run:
            record_early_failure(store, config, exc)
        raise
    if dry_run:
        return _dry_run(prepared, deps, model_check)
    location, record = write_run_folder(store, prepared, status="running", name=config.name)
    with RunLock(store, location.run_id):
        return _execute(prepared, record, deps, callbacks, resume_from=None)


def _dry_run(prepared: PreparedRun, deps: TrainDependencies, model_check: bool) -> TrainRun:
    """The preflight first (it writes nothing), then the ``dryrun_`` folder with the frozen inputs."""
    figures: Dict[str, Any] = {}
    if model_check:
        # the preflight writes nothing; its request still names a local folder, the store's work folder
        figures = dict(deps.backend.preflight(_request(prepared, deps.store.work_dir(), None)))
        prepared.warnings.extend(w for w in figures.pop("warnings", []) if w not in prepared.warnings)
    location, _ = write_run_folder(
        deps.store, prepared, status="dry_run", name=prepared.config.name, prefix=DRY_RUN_PREFIX
    )
    return TrainRun(
        location.run_id,
        str(location.path),
        "dry_run",
        prepared.chain.reproducibility_hash,
        summary={"model_checked": model_check, **figures},
        warnings=list(prepared.warnings),
    )


def _train_rank(
    config: TrainConfig, deps: TrainDependencies, callbacks: Optional[TrainCallbacks], place: Ranks
) -> TrainRun:
    """One rank of a distributed launch: rank 0 owns the run folder (and trackers, billing, every
    file); the others prepare the same data, learn the run id (see ``domain.distributed``) and train."""
    prepared = prepare(config, deps.backend)
    work, key = deps.store.work_dir(), place.key
    if not place.is_main_process:
        if place.on_main_machine:
            run_id = ranks.await_run_id(work, key, rank=place.rank)
            run_dir = deps.store.location(run_id).path  # rank 0's staging folder, as it is now
        else:
            run_id, run_dir = "", worker_dir(work, key)
        outcome = deps.backend.train(_request(prepared, run_dir, None), TrainCallbacks())
        return TrainRun(
            run_id,
            str(run_dir),
            "completed",
            prepared.chain.reproducibility_hash,
            _metrics_of(outcome),
            outcome.wall_seconds,
            summary_of(outcome),
            outcome.warnings,
        )
    location, record = write_run_folder(deps.store, prepared, status="running", name=config.name)
    ranks.publish_run_id(work, key, location.run_id)
    try:
        with RunLock(deps.store, location.run_id):
            return _execute(prepared, record, deps, callbacks, resume_from=None)
    finally:
        if not place.launched_by_parent:  # else the parent still needs it, and removes it
            ranks.withdraw_run_id(work, key)


def _request(prepared: PreparedRun, run_dir: Path, resume_from: Optional[Path]) -> TrainRequest:
    return TrainRequest(
        config=prepared.config,
        train_examples=prepared.train_examples,
        val_examples=prepared.val_examples,
        output_dir=run_dir,
        labels=prepared.labels,
        resume_from=resume_from,
        base_model_path=prepared.base_model_path,
    )


def _resume(run_id: str, deps: TrainDependencies, callbacks: Optional[TrainCallbacks]) -> TrainRun:

    run_dir = deps.store.local_dir(run_id)
    with RunLock(deps.store, run_id):  # a second --resume (or a live owner) is refused here
        for leftover in remove_temp_files(run_dir):
            log.info("removed %s, left by an interrupted write", leftover)
        prepared, record = load_for_resume(run_id, deps)
        folder = deps.backend.artifact_layout().checkpoints
        checkpoint = latest_checkpoint(run_dir, deps.backend.checkpoint_is_complete, folder=folder)
        _remove_partial_checkpoints(run_dir / folder, after=checkpoint)
        return _execute(prepared, record, deps, callbacks, resume_from=checkpoint)


def _remove_partial_checkpoints(folder: Path, *, after: Optional[Path]) -> None:
    """Checkpoints newer than the one resumed from are partial (a crash while writing): remove them,
    so the trainer's rotation and later resumes never meet them again."""
    newest = int(after.name.split("-")[-1]) if after is not None else -1
    for path in folder.glob("checkpoint-*"):
        step = path.name.split("-")[-1]
        if path.is_dir() and step.isdigit() and int(step) > newest:
            log.warning("removing incomplete checkpoint %s (written when the run was killed)", path)
            shutil.rmtree(path, ignore_errors=True)


def _execute(
    prepared: PreparedRun,
    record: RunRecord,
    deps: TrainDependencies,
    callbacks: Optional[TrainCallbacks],
    *,
    resume_from: Optional[Path],
) -> TrainRun:
    store, config, run_id = deps.store, prepared.config, record.run_id
    run_dir = store.local_dir(run_id)
    record.status = "running"
    record.error = None
    record.resume_hint = None
    store.write_json(run_id, RUN_META, record.to_dict())
    trackers = open_trackers(config, run_dir, deps.tracker_types)
    billing = BillingTracker(run_id, store, sinks=open_sinks(deps.sink_types, run_dir))
    outer = callbacks or TrainCallbacks()

    def on_log(step: int, metrics: Mapping[str, float]) -> None:
        trackers.log(metrics, step)
        outer.log(step, metrics)

    synced = [time.monotonic()]

    def on_step(step: int, total: int) -> None:
        # between steps no file is half-written: a remote store uploads the checkpoints saved so far
        if time.monotonic() - synced[0] >= SYNC_EVERY_S:
            store.sync(run_id)
            synced[0] = time.monotonic()
        outer.step(step, total)

    request = _request(prepared, run_dir, resume_from)
    started = time.monotonic()
    try:
        trackers.start(run_id, config.flat())
        billing.start(event="train_start")
        outcome = deps.backend.train(request, TrainCallbacks(outer.on_start, on_step, on_log))
        store.sync(run_id)
        billing.configure(device=outcome.device, gpu_type=outcome.gpu_type, num_gpus=outcome.num_gpus)
        summary = summary_of(outcome)
        store.write_json(run_id, TRAIN_SUMMARY, summary)
        record.device = outcome.device
        record.metrics = _metrics_of(outcome)
        record.warnings = list(dict.fromkeys(record.warnings + outcome.warnings))
        billing.end(
            event="train_end", tokens_processed=outcome.tokens_processed, train_rows=outcome.train_rows
        )
        seal_run(store, run_id)  # the outputs, so that the evaluation checks what it loads
        eval_result = _auto_evaluate(prepared, deps, run_id, billing)
        if eval_result is not None:
            record.metrics["eval"] = dict(eval_result.overall)
        store.sync(run_id)
        trackers.finish(
            {**record.metrics, **{k: v for k, v in summary.items() if isinstance(v, (int, float))}},
            _weights_folder(run_dir, deps.backend.artifact_layout().weights),
        )
    except KeyboardInterrupt:
        _close(store, record, started, "interrupted", "interrupted by the user (Ctrl-C or SIGTERM)")
        raise
    except VerifilyError as exc:
        _close(store, record, started, "failed", str(exc))
        raise
    except Exception as exc:
        _close(store, record, started, "failed", f"{type(exc).__name__}: {exc}")
        raise
    finally:
        billing.close()
    _close(store, record, started, "completed", None)
    seal_run(store, run_id, signing_key=deps.signing_key)  # last: run_meta.json says completed
    return TrainRun(
        run_id,
        store.address(run_id),
        "completed",
        prepared.chain.reproducibility_hash,
        record.metrics,
        record.duration_seconds or 0.0,
        summary,
        record.warnings,
        eval_result,
    )


def _weights_folder(run_dir: Path, weights: Sequence[str]) -> Optional[Path]:
    """What trackers upload: the first of the backend's weight entries that training wrote (the
    adapter of a LoRA run, before the merged model beside it)."""
    return next((run_dir / entry for entry in weights if (run_dir / entry).exists()), None)


def _auto_evaluate(
    prepared: PreparedRun, deps: TrainDependencies, run_id: str, billing: BillingTracker
) -> Any:
    """Evaluation at the end of training when the config asks for it and a test set exists."""
    config = prepared.config
    if deps.evaluate is None or not config.eval.enabled or not prepared.test_examples:
        return None
    billing.start(event="eval_start")
    result = deps.evaluate(deps.store, run_id, deps.backend)
    billing.end(event="eval_end", tokens_processed=0, train_rows=0)
    return result


def _close(
    store: ArtifactStore, record: RunRecord, started: float, status: str, error: Optional[str]
) -> None:
    record.status = status  # type: ignore[assignment]
    record.error = error
    record.completed_at = iso(utc_now())
    record.duration_seconds = round(time.monotonic() - started, 3)
    if status == "interrupted":
        record.resume_hint = f"verifily train --resume {store.address(record.run_id)}"
    store.write_json(record.run_id, RUN_META, record.to_dict())
