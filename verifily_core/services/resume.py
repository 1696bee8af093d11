"""Continue an interrupted run in its own folder from its frozen config and its latest checkpoint.

A resume must train on exactly what the run started with: the frozen ``config.yaml`` and the
resolved data files recorded in ``training_info.json``; if a data file changed since, resuming
would silently mix two datasets, so it is refused.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from verifily_core.domain.runs import HASHES, RUN_META, TRAINING_INFO, RunRecord
from verifily_core.errors import DataError, StoreError
from verifily_core.services.prepare import PreparedRun, prepare
from verifily_core.services.run_config import frozen_config

if TYPE_CHECKING:
    from verifily_core.services.train import TrainDependencies


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
    config = frozen_config(store, run_id)
    info = store.read_json(run_id, TRAINING_INFO)
    prepared = prepare(
        config, deps.backend, data_files=info["data_files"], base_model_path=info.get("base_model_path")
    )
    recorded = store.read_json(run_id, HASHES)
    if recorded.get("data_hash") != prepared.chain.data_hash:
        raise DataError(
            f"The data of run {run_id} changed since it started; resuming would mix two datasets.",
            hint="Restore the original data files (see hashes.json) or start a new run.",
        )
    return prepared, record
