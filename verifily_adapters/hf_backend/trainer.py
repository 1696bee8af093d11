"""One training run on the HF Trainer: config keys → TrainingArguments, callbacks, artifacts, outcome.

Choices worth knowing:
* ``train_loss`` is the step-weighted mean of every logged loss over the *whole* run, so that a
  resumed run reports the same figure (:mod:`callbacks`).
* ``tokens_processed`` is the Trainer's count of non-padding input tokens (``input_ids`` under the
  attention mask, every epoch, restored on resume; packed micro-batches hold no padding, so all their
  tokens count). For seq2seq models that is the encoder side.
* How rows become micro-batches (packing, length grouping, token budgets) is :mod:`batching`'s;
  ``extra`` reports its mode and the effective batch size (mean rows per optimizer step).
* ``extra["mfu"]`` = 6 · N · (tokens/s of this session) / P, with N the total parameter count
  (frozen ones included: the usual 6N-per-token training cost) and P the fp32 matmul FLOP/s measured
  on the device (:func:`devices.gemm_peak_flops`). A relative figure, comparable on one machine.
* Data order is seeded (``data_seed`` = ``seed``) and the model is seeded before LoRA/heads are
  initialised, so two CPU runs with one config write byte-identical adapters.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Dict, List, Optional

from verifily_adapters.hf_backend import batching, devices, loading
from verifily_adapters.hf_backend.arguments import early_stopping, training_arguments
from verifily_adapters.hf_backend.artifacts import save_artifacts
from verifily_adapters.hf_backend.callbacks import bridge as make_bridge
from verifily_adapters.hf_backend.callbacks import last_value, run_train_loss
from verifily_adapters.hf_backend.references import ModelRef, resolve_reference
from verifily_adapters.hf_backend.tensors import EncodedSet, Encoder, require_supervision
from verifily_core.domain.examples import ClassificationExample
from verifily_core.domain.training import TrainCallbacks, TrainOutcome, TrainRequest, rising_eval_loss_notice
from verifily_core.errors import BackendError, DataError, VerifilyError

logger = logging.getLogger(__name__)


@dataclass
class Inputs:
    """Everything a run settles before loading weights: the shared prefix of a run and its dry run."""

    ref: ModelRef
    device: Any
    precision: devices.Precision
    architecture: str
    labels: List[str]
    tokenizer: Any
    train_set: EncodedSet
    val_set: EncodedSet
    warnings: List[str]


def prepare_inputs(request: TrainRequest) -> Inputs:
    """Device, model reference, tokenizer and the encoding of every row, without loading weights.

    ``train --dry-run`` calls this too (through :func:`preflight`), so that the dry run refuses
    exactly what the real run would refuse, with the same truncation figures.
    """
    loading.quiet()
    config = request.config
    loading.check_quantization(config.lora)
    ref = resolve_reference(
        request.base_model_path or config.base_model, trust_remote_code=config.trust_remote_code
    )
    device = devices.resolve_device(config.compute.device)
    precision = devices.choose_precision(device, config.compute.bf16, config.compute.fp16)
    architecture = loading.detect_architecture(config.task, loading.model_config(ref))
    logger.info("Model %s: %s architecture, device %s", ref.name, architecture, device)
    labels = _labels(request)

    tokenizer = loading.load_tokenizer(ref.name, ref)
    encoder = Encoder(
        tokenizer,
        architecture,
        config.training.max_seq_length,
        {label: i for i, label in enumerate(labels)},
        config.training.prompt_format,
    )
    train_set = encoder.encode_all(request.train_examples)
    val_set = encoder.encode_all(request.val_examples)
    if not train_set.features:
        raise DataError("There are no training rows.", hint="Check data_paths.train.")
    require_supervision("training", train_set, config.training.max_seq_length)
    require_supervision("validation", val_set, config.training.max_seq_length)
    warnings = precision.warnings + _val_truncation_warning(val_set, config.training.max_seq_length)
    return Inputs(ref, device, precision, architecture, labels, tokenizer, train_set, val_set, warnings)


def preflight(request: TrainRequest) -> Dict[str, Any]:
    """The dry run's checks (see :func:`prepare_inputs`) and the figures a real run would record."""
    inputs = prepare_inputs(request)
    return {
        "device": str(inputs.device),
        "architecture": inputs.architecture,
        "train_rows": len(inputs.train_set.features),
        "truncated_rows": inputs.train_set.truncated_rows,
        "truncated_tokens": inputs.train_set.truncated_tokens,
        "val_truncated_rows": inputs.val_set.truncated_rows,
        "warnings": inputs.warnings,
    }


def run_training(request: TrainRequest, callbacks: TrainCallbacks) -> TrainOutcome:
    """Train per ``request.config`` and write adapter/model, tokenizer and checkpoints."""
    import torch
    import transformers

    config = request.config
    inputs = prepare_inputs(request)
    ref, device, precision, architecture = inputs.ref, inputs.device, inputs.precision, inputs.architecture
    labels, tokenizer, train_set, val_set = inputs.labels, inputs.tokenizer, inputs.train_set, inputs.val_set
    warnings = inputs.warnings

    if device.type == "cuda":
        torch.cuda.set_device(device)
    attention = devices.attention_implementation(device, architecture)
    plan = batching.plan_batches(
        train_set.features,
        architecture=architecture,
        packing=config.training.packing,
        batch_size=config.training.batch_size,
        max_tokens_per_batch=config.training.max_tokens_per_batch,
        pad_id=tokenizer.pad_token_id,
        varlen_attention=attention == "flash_attention_2",
        seed=config.seed,
    )
    devices.check_liger(config.training.liger, device)
    transformers.set_seed(config.seed)
    model = loading.load_model(
        ref,
        architecture,
        labels=labels,
        quantization=config.lora.quantization,
        compute_dtype=config.lora.bnb_4bit_compute_dtype,
        device=device,
        attn_implementation=attention,
    )
    if config.lora.enabled:
        model = loading.apply_lora(
            model,
            config.lora,
            architecture,
            quantized=config.lora.quantization != "none",
            gradient_checkpointing=config.training.gradient_checkpointing,
        )
    trainable, total = loading.parameter_counts(model)

    bridge = make_bridge(callbacks)
    trainer = transformers.Trainer(
        model=model,
        args=training_arguments(
            config, request.output_dir, device, precision, has_val=bool(val_set.features), plan=plan
        ),
        train_dataset=plan.train_dataset,
        eval_dataset=val_set.features or None,
        data_collator=plan.collator,
        processing_class=tokenizer,
        callbacks=[bridge, *early_stopping(config, bool(val_set.features))],
    )
    trainer.remove_callback(transformers.trainer_callback.PrinterCallback)  # the backend never prints
    wall = _train(trainer, request.resume_from)
    state = trainer.state
    if val_set.features and not any(
        e.get("step") == state.global_step and "eval_loss" in e for e in state.log_history
    ):
        trainer.evaluate()
    save_artifacts(trainer, model, tokenizer, config, request.output_dir, ref, architecture, labels)

    session_tokens = state.num_input_tokens_seen - bridge.start_tokens
    peak = devices.gemm_peak_flops(str(device))
    world = trainer.args.world_size
    effective_batch = plan.rows_per_micro_batch * config.training.gradient_accumulation_steps * world
    return TrainOutcome(
        global_step=state.global_step,
        epochs=float(state.epoch or 0.0),
        train_loss=run_train_loss(state.log_history),
        eval_loss=last_value(state.log_history, "eval_loss"),
        wall_seconds=wall,
        tokens_processed=int(state.num_input_tokens_seen),
        train_rows=len(request.train_examples),
        truncated_rows=train_set.truncated_rows,
        truncated_tokens=train_set.truncated_tokens,
        device=device.type,
        gpu_type=devices.gpu_name(device),
        num_gpus=world if device.type == "cuda" else 0,
        world_size=world,
        per_device_batch_size=round(plan.rows_per_micro_batch),
        global_batch_size=round(effective_batch),
        architecture=architecture,
        trainable_parameters=trainable,
        total_parameters=total,
        warnings=warnings + rising_eval_loss_notice(state.log_history),
        log_history=[dict(e) for e in state.log_history],
        extra={
            "mfu": 6.0 * total * (session_tokens / wall if wall > 0 else 0.0) / peak,
            "gemm_peak_flops": peak,
            "model_class": type(model.get_base_model() if config.lora.enabled else model).__name__,
            "precision": "bf16" if precision.bf16 else "fp16" if precision.fp16 else "fp32",
            "labels": labels,
            "batching": plan.mode,
            "max_tokens_per_batch": plan.max_tokens_per_batch,
            "effective_batch_size": round(effective_batch, 3),
            "attention": getattr(getattr(model, "config", None), "_attn_implementation", None),
        },
    )


def _train(trainer: Any, resume_from: Optional[Path]) -> float:
    """Run ``trainer.train``; returns wall seconds; vendor failures become BackendError."""
    if resume_from is not None and not Path(resume_from).is_dir():
        raise BackendError(f"Checkpoint to resume from not found: {resume_from}")
    start = time.perf_counter()
    try:
        trainer.train(resume_from_checkpoint=str(resume_from) if resume_from is not None else None)
    except VerifilyError:
        raise
    except Exception as exc:  # noqa: BLE001 - vendor errors leave the adapter as BackendError
        raise loading.translate(exc, BackendError(f"Training failed: {type(exc).__name__}: {exc}")) from exc
    return time.perf_counter() - start


def _labels(request: TrainRequest) -> List[str]:
    if request.config.task != "classification":
        return []
    if request.labels:
        return list(request.labels)
    return sorted({e.label for e in request.train_examples if isinstance(e, ClassificationExample)})


def _val_truncation_warning(val_set: EncodedSet, max_length: int) -> List[str]:
    if not val_set.truncated_rows:
        return []
    return [
        f"{val_set.truncated_rows} validation row(s) were truncated to max_seq_length={max_length} "
        f"({val_set.truncated_tokens} tokens cut)."
    ]
