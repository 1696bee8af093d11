"""The inputs an evaluation reads from a run folder and the test file, each checked with a fix.

A run evaluated weeks after training may be incomplete (interrupted, weights deleted) or may have
been trained without a test set: each such case fails here with an EvaluationError saying what to
do, before any model is loaded.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Dict, List, Mapping, Optional, Sequence, Union

from verifily_core.config import TrainConfig
from verifily_core.domain import metrics as m
from verifily_core.domain.data_files import split_files
from verifily_core.domain.data_mixing import load_eval_examples
from verifily_core.domain.examples import Example
from verifily_core.domain.hashchain import files_digest
from verifily_core.domain.runs import (
    ADAPTER_DIR,
    CONFIG_FILE,
    MODEL_DIR,
    RUN_META,
    TRAINING_INFO,
    EvalFiles,
    eval_name_problem,
    safe_name,
)
from verifily_core.domain.slicing import check_slice_keys
from verifily_core.errors import EvaluationError
from verifily_core.ports.artifact_store import ArtifactStore
from verifily_core.services.evaluation.settings import EvalSettings
from verifily_core.services.run_folder.frozen_config import frozen_config


def read_training_info(store: ArtifactStore, run_id: str) -> Dict[str, Any]:
    if not store.exists(run_id, TRAINING_INFO):
        raise EvaluationError(
            f"training_info.json not found in run {run_id} ({store.local_dir(run_id)}).",
            hint="The run may have been interrupted before saving this file. Check that training "
            f"completed (status: completed in {RUN_META}).",
        )
    info = store.read_json(run_id, TRAINING_INFO)
    tasks = m.registry()
    if not isinstance(info, dict) or info.get("task") not in tasks:
        raise EvaluationError(f"{TRAINING_INFO} of run {run_id} names no known task ({', '.join(tasks)}).")
    return info


def read_run_config(store: ArtifactStore, run_id: str) -> Optional[TrainConfig]:
    """The frozen config of the run, or None for a run folder written without one."""
    if not store.exists(run_id, CONFIG_FILE):
        return None
    return frozen_config(store, run_id)


def read_test_data(
    test_data: Union[str, Sequence[str], None],
    info: Mapping[str, Any],
    run_id: str,
    settings: EvalSettings,
) -> tuple[str, List[Example], str]:
    """The test file(s) (argument, else the run's data_paths.test), the examples and their sha256.

    Several files (a list) are read in order, each row tagged with its file's stem as
    ``_source_dataset``; their paths are reported comma-separated and their digest is
    :func:`~verifily_core.domain.hashchain.files_digest`.
    """
    path = test_data or (info.get("data_files") or {}).get("test")
    if not path:
        raise EvaluationError(
            f"No test data for run {run_id}: data_paths.test was not set when it was trained.",
            hint="Pass --test-data PATH (or test_data=... in Python).",
        )
    paths = [str(path)] if isinstance(path, str) else [str(p) for p in path]
    # one path keeps its rows' tags; a list (even of one) tags each row with its source file
    examples = load_eval_examples(paths[0] if isinstance(path, str) else paths, settings.task)
    check_slice_keys(settings.slice_by, [ex.tags for ex in examples])
    return ", ".join(paths), examples, files_digest(paths)


def evaluation_files(
    name: Optional[str],
    test_data: Union[str, Sequence[str], None],
    info: Mapping[str, Any],
    main_evaluated_on: Optional[str] = None,
) -> EvalFiles:
    """Which evaluation this is: ``name`` when given; else the main one (``eval/``) for the run's own
    test set, and ``eval/<file stem>/`` for other test data, so the headline result never changes
    because someone evaluated on another file.

    A run trained without a test set has no headline yet: its first evaluation becomes the main one
    (the guide's train-then-``eval-cmd --test-data`` workflow), and later evaluations on the same files
    update it. ``main_evaluated_on`` is the ``test_data_path`` recorded by the main evaluation, if any.
    """
    if name is not None:
        problem = eval_name_problem(name)
        if problem:
            raise EvaluationError(f"Evaluation name {name!r}: {problem}.", hint="Example: --name heldout")
        return EvalFiles(name)
    if not test_data:
        return EvalFiles()
    given = [test_data] if isinstance(test_data, str) else [str(p) for p in test_data]
    recorded = split_files(info.get("data_files") or {}, "test")
    if not recorded:
        recorded = main_evaluated_on.split(", ") if main_evaluated_on else given
    if [Path(p).resolve() for p in given] == [Path(p).resolve() for p in recorded]:
        return EvalFiles()
    derived = "_".join(safe_name(Path(p).stem).replace(".", "-") for p in given)[:64].strip("-_")
    return EvalFiles(derived if derived and eval_name_problem(derived) is None else "other")


def check_weights(
    store: ArtifactStore,
    run_id: str,
    info: Optional[Mapping[str, Any]] = None,
    weights: Sequence[str] = (ADAPTER_DIR, MODEL_DIR),
) -> Path:
    """The run's folder, if it holds trained weights (one of the backend's ``weights`` entries,
    ``ModelBackend.artifact_layout``); a run without them has nothing to evaluate, except a
    baseline (``info["baseline"]``), which evaluates its base model as it is."""
    run_dir = Path(store.local_dir(run_id))
    if not (info or {}).get("baseline") and not any((run_dir / d).exists() for d in weights):
        raise EvaluationError(
            f"Run folder {run_dir} has no {' or '.join(f'{d}/' for d in weights)} folder: "
            "no trained model to evaluate.",
            hint=f"Check that training completed (status: completed in {RUN_META}), or train the run again.",
        )
    return run_dir


__all__ = ["check_weights", "read_run_config", "read_test_data", "read_training_info"]


def main_evaluation_source(store: ArtifactStore, run_id: str) -> Optional[str]:
    """The test data the run's main evaluation was made from (None before the first one)."""
    main = EvalFiles()
    if not store.exists(run_id, main.results):
        return None
    recorded = store.read_json(run_id, main.results)
    source = recorded.get("test_data_path") if isinstance(recorded, dict) else None
    return source if isinstance(source, str) and source else None
