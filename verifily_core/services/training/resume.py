"""Continue an interrupted run in its own folder from its frozen config and its latest checkpoint.

A resume must train on exactly what the run started with: the frozen ``config.yaml`` and the
resolved data files recorded in ``training_info.json``; if a data file changed since, resuming
would silently mix two datasets, so it is refused; so is a changed base model, and a frozen config
or training info that no longer matches the seal written when the run folder was created.
Checkpoints are not sealed while a run trains (they appear and rotate); they are loaded with
``weights_only`` and sealed with everything else when the run completes.
"""

from __future__ import annotations

from verifily_core.domain.model_digest import base_model_findings
from verifily_core.domain.runs import CONFIG_FILE, ENVIRONMENT, RUN_META, TRAINING_INFO, RunRecord
from verifily_core.errors import DataError, StoreError
from verifily_core.services.run_folder.frozen_config import frozen_config
from verifily_core.services.run_folder.seal import check_seal
from verifily_core.services.training.dependencies import TrainDependencies
from verifily_core.services.training.prepare import PreparedRun, prepare

#: What a resume reads from the run folder, checked against the seal first.
RESUME_INPUTS = (CONFIG_FILE, TRAINING_INFO, ENVIRONMENT)


def load_for_resume(run_id: str, deps: TrainDependencies) -> tuple[PreparedRun, RunRecord]:
    store = deps.store
    record = RunRecord.from_dict(store.read_json(run_id, RUN_META))
    if record.status == "completed":
        raise StoreError(
            f"Run {run_id} already completed; nothing to resume.",
            hint="Start a new run with `verifily train --config ...`.",
        )
    if record.status == "dry_run":
        raise StoreError(
            f"Run {run_id} is a dry run; it has nothing to resume.",
            hint="Start a real run with `verifily train --config ...`.",
        )
    chain = check_seal(store, run_id, RESUME_INPUTS)  # IntegrityError before anything is used
    config = frozen_config(store, run_id)
    info = store.read_json(run_id, TRAINING_INFO)
    prepared = prepare(
        config, deps.backend, data_files=info["data_files"], base_model_path=info.get("base_model_path")
    )
    if chain.data_hash != prepared.chain.data_hash:
        raise DataError(
            f"The data of run {run_id} changed since it started; resuming would mix two datasets.",
            hint="Restore the original data files (see hashes.json) or start a new run.",
        )
    changed = (
        base_model_findings(chain.base_model, prepared.chain.base_model)
        if chain.base_model is not None and prepared.chain.base_model is not None
        else []
    )
    if changed:
        raise DataError(
            f"The base model of run {run_id} changed since it started; resuming would mix two models.",
            problems=changed,
            hint="Restore the original base model files (see hashes.json) or start a new run.",
        )
    return prepared, record
