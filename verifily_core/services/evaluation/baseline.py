"""The baseline use case: a base model evaluated as it is, no training, into an ordinary run folder.

A fine-tuned score means little without the score of the model it started from, so a baseline is a
run like any other (``config.yaml``, ``hashes.json``, ``training_info.json``, ``run_meta.json``,
``eval/``) that ``compare-cmd`` takes beside fine-tuned runs, per slice and with intervals. It is
marked ``"baseline": true`` in ``training_info.json`` and ``run_meta.json`` and its id starts with
``baseline_``; it has no ``adapter/`` or ``model/`` folder, and the backend loads the base model
alone for it. Given the training config (``--config``), the baseline evaluates with the same
prompt format, sequence length and ``eval:`` settings as the fine-tuned run, so the two compare
like for like.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Dict, Optional, Sequence

from verifily_core.config import TrainConfig
from verifily_core.domain import hashchain
from verifily_core.domain.data_files import role_files
from verifily_core.domain.runs import (
    CONFIG_FILE,
    ENVIRONMENT,
    RUN_META,
    TRAINING_INFO,
    RunRecord,
    iso,
    utc_now,
)
from verifily_core.errors import ConfigError
from verifily_core.ports.artifact_store import ArtifactStore
from verifily_core.ports.model_backend import ModelBackend
from verifily_core.services.evaluation.evaluate import ProgressFn, evaluate_run
from verifily_core.services.run_folder.seal import seal_run
from verifily_core.services.training.prepare import prompt_format_of

BASELINE_PREFIX = "baseline"


@dataclass
class BaselineRun:
    """What :func:`run_baseline` returns: the run folder and its evaluation."""

    run_id: str
    artifact_path: str
    eval_result: Any


def baseline_config(
    base_model: str, task: str, test_data: Sequence[str], config: Optional[TrainConfig] = None
) -> TrainConfig:
    """The config a baseline records: ``config`` (or the defaults, with greedy decoding) with this
    model, task and test data, no training data and LoRA off (nothing is trained)."""
    # without a training config to match, decode greedily: beam search over a base model's long,
    # unstopped answers costs minutes on a CPU and a baseline is a floor, not a best effort
    data: Dict[str, Any] = config.to_dict() if config is not None else {"eval": {"generation_num_beams": 1}}
    data.update(task=task, base_model=base_model)
    data["data_paths"] = {"train": "", "test": list(test_data)}
    data["lora"] = {**data.get("lora", {}), "enabled": False}
    return TrainConfig.from_dict(data)


def run_baseline(
    store: ArtifactStore,
    backend: ModelBackend,
    config: TrainConfig,
    *,
    progress: Optional[ProgressFn] = None,
) -> BaselineRun:
    """Evaluate ``config.base_model`` untrained on ``config.data_paths.test`` into a new run folder."""
    started = time.monotonic()
    if config.task != "sft":
        raise ConfigError(
            f"A baseline evaluates a base model as it is, which needs a generative task (sft); a base "
            f"model has no trained {config.task} head, so its scores would be noise.",
            key="task",
            hint="For classification, the evaluation's trivial baselines (majority class) are the floor.",
        )
    backend.validate_model(config.base_model, config.task)
    test_files = [str(Path(p).expanduser().resolve()) for p in _listed(config.data_paths.test)]
    files = {"train": [], "val": None, "test": test_files}
    environment = backend.environment()
    chain = hashchain.HashChain.build(config, environment, files=role_files(files))
    location = store.create_run(config.name, prefix=BASELINE_PREFIX)
    run_id = location.run_id
    record = RunRecord(
        run_id=run_id,
        status="running",
        task=config.task,
        base_model=config.base_model,
        seed=config.seed,
        started_at=iso(utc_now()),
        name=config.name,
        config_hash=chain.config_hash,
        data_hash=chain.data_hash,
        reproducibility_hash=chain.reproducibility_hash,
    )
    store.write_text(run_id, CONFIG_FILE, config.to_yaml())
    store.write_json(run_id, ENVIRONMENT, environment)
    store.write_json(run_id, TRAINING_INFO, _training_info(config, run_id, files))
    store.write_json(run_id, RUN_META, {**record.to_dict(), "baseline": True})
    seal_run(store, run_id, chain)  # evaluate_run checks what it reads against the seal
    result = evaluate_run(store, run_id, backend, test_data=test_files, progress=progress)
    record.status = "completed"
    record.completed_at = iso(utc_now())
    record.duration_seconds = round(time.monotonic() - started, 3)
    record.metrics = {k: v for k, v in result.overall.items() if isinstance(v, (int, float))}
    store.write_json(run_id, RUN_META, {**record.to_dict(), "baseline": True})
    seal_run(store, run_id)
    return BaselineRun(run_id, str(location.path), result)


def _listed(value: Any) -> list[str]:
    return [value] if isinstance(value, str) else list(value or [])


def _training_info(config: TrainConfig, run_id: str, files: Dict[str, Any]) -> Dict[str, Any]:
    local = Path(config.base_model).expanduser()
    return {
        "run_id": run_id,
        "baseline": True,
        "task": config.task,
        "backend": config.backend,
        "base_model": config.base_model,
        "base_model_path": str(local.resolve()) if local.exists() else config.base_model,
        "data_files": files,
        "num_train_rows": 0,
        "labels": [],
        "label2id": {},
        "prompt_format": prompt_format_of(config),
        "max_seq_length": config.training.max_seq_length,
        "lora_enabled": False,
        "quantization": config.lora.quantization,
        "seed": config.seed,
    }


__all__ = ["BASELINE_PREFIX", "BaselineRun", "baseline_config", "run_baseline"]
