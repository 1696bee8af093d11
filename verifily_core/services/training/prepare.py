"""Everything a run needs before a model is touched: data, labels, hashes, the run folder.

Shared by ``train`` and ``train --dry-run`` so that a dry run proves exactly what a real run would
check (the data, the label sets, the model reference, the hash chain) without importing a framework.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from typing import Any, Dict, List, Mapping, Optional, Sequence

from verifily_core.config import TrainConfig
from verifily_core.domain import hashchain
from verifily_core.domain.data_files import check_files_exist, resolve_data_files, role_files
from verifily_core.domain.data_mixing import load_eval_examples, load_training_examples
from verifily_core.domain.data_scan import MAX_LISTED, DataCounts, scan_data, unseen_labels_error
from verifily_core.domain.examples import ClassificationExample, Example
from verifily_core.domain.model_digest import hash_base_model
from verifily_core.domain.prompts import CHAT_TEMPLATE, PROMPT_FORMAT_NAME
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
from verifily_core.ports.artifact_store import ArtifactStore, RunLocation
from verifily_core.ports.model_backend import ModelBackend
from verifily_core.services.run_folder.seal import seal_run
from verifily_core.services.training import ranks


@dataclass
class PreparedRun:
    """Validated inputs of a run, ready to be written to a run folder and trained on."""

    config: TrainConfig
    train_examples: List[Example]
    val_examples: List[Example]
    test_examples: List[Example]
    data_files: Dict[str, Any]
    labels: List[str]
    base_model_path: str
    environment: Dict[str, str]
    chain: hashchain.HashChain
    warnings: List[str] = field(default_factory=list)
    row_counts: Optional[Dict[str, int]] = None  # set when the examples were validated, not kept

    def rows(self, split: str) -> int:
        """Rows of ``split`` (``train``/``val``/``test``), whether the examples were kept or not."""
        if self.row_counts is not None:
            return self.row_counts.get(split, 0)
        kept = {"train": self.train_examples, "val": self.val_examples, "test": self.test_examples}
        return len(kept[split])


def resolve_base_model(config: TrainConfig) -> str:
    """A base model written as a path relative to the config file resolves there; else it is an id."""
    candidate = config.resolve_path(config.base_model)
    return str(candidate) if candidate.exists() else config.base_model


def check_reserved_settings(config: TrainConfig) -> None:
    """``compute.mode: managed`` asks for hosted training, which this version does not have:
    refuse it rather than train on this machine while the user expects managed compute."""
    if config.compute.mode == "managed":
        raise ConfigError(
            "compute.mode: managed (Verifily's hosted training) is not available in this version; "
            "runs train on this machine.",
            key="compute.mode",
            hint="Set compute.mode: local (the default) to train here.",
        )


def reserved_notices(config: TrainConfig) -> List[str]:
    """Warnings for settings the guide reserves for later, recorded in ``run_meta.json`` and printed,
    so that a reserved setting never looks as if it had done something."""
    if config.output.push_to_hub:
        return [
            "output.push_to_hub: true is reserved for a later version: nothing is pushed to the "
            f"Hugging Face Hub; the run stays in {config.output.dir}."
        ]
    return []


def check_early_stopping(config: TrainConfig, files: Mapping[str, Any]) -> None:
    """Early stopping and best-checkpoint keeping follow the validation loss, so they need a
    validation set; keeping the best checkpoint needs a checkpoint at every evaluation it may pick."""
    t = config.training
    key = "training.early_stopping_patience" if t.early_stopping_patience is not None else None
    key = key or ("training.load_best_model_at_end" if t.load_best_model_at_end else None)
    if key is None:
        return
    if not files.get("val"):
        raise ConfigError(
            f"{key} watches the validation loss, but data_paths.val is not set.",
            key=key,
            hint="Add 'data_paths.val: <val.jsonl>' to the config.",
        )
    if t.load_best_model_at_end and t.save_steps % t.eval_steps:
        raise ConfigError(
            f"training.load_best_model_at_end needs a checkpoint at every evaluation, but save_steps "
            f"({t.save_steps}) is not a multiple of eval_steps ({t.eval_steps}).",
            key="training.save_steps",
            hint=f"Set training.save_steps: {t.eval_steps} (or a multiple of it).",
        )


def check_labels(labels: Sequence[str], examples: Sequence[Example], split: str) -> None:
    """A val/test label never seen in training can only ever be wrong: refuse it before training."""
    known = set(labels)
    unseen = [ex for ex in examples if isinstance(ex, ClassificationExample) and ex.label not in known]
    if unseen:
        listed = [(ex.file, ex.line, ex.label) for ex in unseen[:MAX_LISTED]]
        raise unseen_labels_error(split, len(unseen), listed, labels)


def prepare(
    config: TrainConfig,
    backend: ModelBackend,
    *,
    data_files: Optional[Mapping[str, Any]] = None,
    base_model_path: Optional[str] = None,
    keep_examples: bool = True,
) -> PreparedRun:
    """Validate config, data and model reference; compute the hash chain. No framework import.

    ``data_files`` and ``base_model_path`` are given when re-using a run's recorded resolution
    (resume, reproduce) instead of resolving against the config's folder. Without
    ``keep_examples`` the data is validated streaming (bounded memory, for a dry run that needs no
    examples) and the example lists stay empty; ``rows()`` still counts them.
    """
    check_reserved_settings(config)
    if not backend.supports(config.task):
        raise ConfigError(
            f"The '{config.backend}' backend cannot train task '{config.task}'.",
            key="task",
            hint="Pick another backend or task.",
        )
    if data_files is None:
        files = resolve_data_files(config)
        check_files_exist(config, files)
    else:
        files = dict(data_files)
    check_early_stopping(config, files)
    train: List[Example] = []
    val: List[Example] = []
    test: List[Example] = []
    counts: Optional[DataCounts] = None
    labels: List[str] = []
    if not keep_examples:
        counts = scan_data(files, config.task, config.data_paths.weights)
        labels = counts.labels
    else:
        train = load_training_examples(files["train"], config.task, config.data_paths.weights, config.seed)
        val = load_eval_examples(files["val"], config.task) if files.get("val") else []
        test = load_eval_examples(files["test"], config.task) if files.get("test") else []
        if config.task == "classification":
            labels = sorted({ex.label for ex in train if isinstance(ex, ClassificationExample)})
            check_labels(labels, val, "val")
            check_labels(labels, test, "test")
    base_model_path = base_model_path or resolve_base_model(config)
    backend.validate_model(base_model_path, config.task)
    environment = backend.environment()
    base_model = hash_base_model(base_model_path, backend.locate_model(base_model_path))
    chain = hashchain.HashChain.build(config, environment, files=role_files(files), base_model=base_model)
    return PreparedRun(
        config,
        train,
        val,
        test,
        files,
        labels,
        base_model_path,
        environment,
        chain,
        reserved_notices(config),
        counts.rows if counts is not None else None,
    )


def training_info(prepared: PreparedRun, run_id: str) -> Dict[str, Any]:
    config = prepared.config
    world_size = ranks.current().world_size
    return {
        "run_id": run_id,
        "task": config.task,
        "backend": config.backend,
        "base_model": config.base_model,
        "base_model_path": prepared.base_model_path,
        "trust_remote_code": config.trust_remote_code,
        "dataset_version": config.dataset_version or "local",
        "data_paths": config.data_paths.model_dump(mode="json"),
        "data_files": prepared.data_files,
        "num_train_rows": prepared.rows("train"),
        "num_val_rows": prepared.rows("val"),
        "num_test_rows": prepared.rows("test"),
        "labels": prepared.labels,
        "label2id": {label: i for i, label in enumerate(prepared.labels)},
        "label_counts": dict(
            Counter(e.label for e in prepared.train_examples if isinstance(e, ClassificationExample))
        ),
        "prompt_format": prompt_format_of(config),
        "max_seq_length": config.training.max_seq_length,
        "lora_enabled": config.lora.enabled,
        "quantization": config.lora.quantization,
        "seed": config.seed,
        "distributed": {
            "enabled": config.compute.distributed or world_size > 1,
            "world_size": world_size,
            "num_gpus": config.compute.num_gpus,
        },
    }


def prompt_format_of(config: TrainConfig) -> Optional[str]:
    """How instruction rows were laid out (``alpaca-v1`` or ``chat_template``); None off SFT."""
    if config.task != "sft":
        return None
    return CHAT_TEMPLATE if config.training.prompt_format == CHAT_TEMPLATE else PROMPT_FORMAT_NAME


def write_run_folder(
    store: ArtifactStore, prepared: PreparedRun, *, status: str, name: Optional[str], prefix: str = "run"
) -> tuple[RunLocation, RunRecord]:
    """Create the run folder and write its frozen inputs; every file atomically."""
    config = prepared.config
    location = store.create_run(name, prefix=prefix)
    run_id = location.run_id
    record = RunRecord(
        run_id=run_id,
        status=status,  # type: ignore[arg-type]
        task=config.task,
        base_model=config.base_model,
        seed=config.seed,
        started_at=iso(utc_now()),
        dataset_version=config.dataset_version or "local",
        name=name,
        config_hash=prepared.chain.config_hash,
        data_hash=prepared.chain.data_hash,
        reproducibility_hash=prepared.chain.reproducibility_hash,
        warnings=list(prepared.warnings),
    )
    store.write_text(run_id, CONFIG_FILE, config.to_yaml())
    store.write_json(run_id, ENVIRONMENT, prepared.environment)
    store.write_json(run_id, TRAINING_INFO, training_info(prepared, run_id))
    store.write_json(run_id, RUN_META, record.to_dict())
    seal_run(store, run_id, prepared.chain)  # hashes.json, with the manifest of the files above
    return location, record


def record_early_failure(store: ArtifactStore, config: TrainConfig, error: Exception) -> RunLocation:
    """A run that failed before training (bad data, a model that cannot be found) still leaves a
    run folder saying so: ``run_meta.json`` status ``failed`` with the reason, and the config that
    was asked for, so that run listings and the dashboard show the attempt and why it stopped."""
    location = store.create_run(config.name)
    now = iso(utc_now())
    record = RunRecord(
        run_id=location.run_id,
        status="failed",
        task=config.task,
        base_model=config.base_model,
        seed=config.seed,
        started_at=now,
        completed_at=now,
        duration_seconds=0.0,
        dataset_version=config.dataset_version or "local",
        name=config.name,
        error=str(error),
    )
    store.write_text(location.run_id, CONFIG_FILE, config.to_yaml())
    store.write_json(location.run_id, RUN_META, record.to_dict())
    return location
