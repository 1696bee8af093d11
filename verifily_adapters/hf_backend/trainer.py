"""One training run on the HF Trainer: config keys → TrainingArguments, callbacks, artifacts, outcome.

Choices worth knowing:
* ``train_loss`` is the step-weighted mean of every logged loss over the *whole* run (the last step
  is always logged). The Trainer's own ``training_loss`` only covers the current ``train()`` call,
  so it would change when a run is resumed; this one does not.
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
import math
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Dict, List, Mapping, Optional, Sequence

from verifily_adapters.hf_backend import batching, devices, loading
from verifily_adapters.hf_backend.references import ModelRef, resolve_reference
from verifily_adapters.hf_backend.tensors import EncodedSet, Encoder, require_supervision
from verifily_core.config import TrainConfig
from verifily_core.domain.examples import ClassificationExample
from verifily_core.domain.training import TrainCallbacks, TrainOutcome, TrainRequest, rising_eval_loss_notice
from verifily_core.errors import BackendError, DataError, VerifilyError

logger = logging.getLogger(__name__)
ADAPTER_DIR, MODEL_DIR, TOKENIZER_DIR, CHECKPOINTS_DIR = "adapter", "model", "tokenizer", "checkpoints"


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
    plan = batching.plan_batches(
        train_set.features,
        architecture=architecture,
        device_type=device.type,
        packing=config.training.packing,
        batch_size=config.training.batch_size,
        max_tokens_per_batch=config.training.max_tokens_per_batch,
        pad_id=tokenizer.pad_token_id,
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
        attn_implementation=devices.attention_implementation(device, architecture),
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

    bridge = _bridge(callbacks)
    trainer = transformers.Trainer(
        model=model,
        args=training_arguments(
            config, request.output_dir, device, precision, has_val=bool(val_set.features), plan=plan
        ),
        train_dataset=plan.train_dataset,
        eval_dataset=val_set.features or None,
        data_collator=plan.collator,
        processing_class=tokenizer,
        callbacks=[bridge, *_early_stopping(config, bool(val_set.features))],
    )
    trainer.remove_callback(transformers.trainer_callback.PrinterCallback)  # the backend never prints
    wall = _train(trainer, request.resume_from)
    state = trainer.state
    if val_set.features and not any(
        e.get("step") == state.global_step and "eval_loss" in e for e in state.log_history
    ):
        trainer.evaluate()
    _save(trainer, model, tokenizer, config, request.output_dir, ref, architecture, labels)

    session_tokens = state.num_input_tokens_seen - bridge.start_tokens
    peak = devices.gemm_peak_flops(str(device))
    world = trainer.args.world_size
    effective_batch = plan.rows_per_micro_batch * config.training.gradient_accumulation_steps * world
    return TrainOutcome(
        global_step=state.global_step,
        epochs=float(state.epoch or 0.0),
        train_loss=run_train_loss(state.log_history),
        eval_loss=_last(state.log_history, "eval_loss"),
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


def training_arguments(
    config: TrainConfig,
    output_dir: Path,
    device: Any,
    precision: devices.Precision,
    *,
    has_val: bool,
    plan: batching.BatchPlan,
) -> Any:
    """Every ``training.*`` key (and ``seed``) mapped onto TrainingArguments; ``plan`` sets the
    batching (packed micro-batches hold no padding, so every input token counts as seen)."""
    from transformers import TrainingArguments

    t = config.training
    return TrainingArguments(
        output_dir=str(Path(output_dir) / CHECKPOINTS_DIR),
        num_train_epochs=t.num_epochs,
        per_device_train_batch_size=plan.per_device_batch_size,
        per_device_eval_batch_size=t.batch_size,
        gradient_accumulation_steps=t.gradient_accumulation_steps,
        learning_rate=t.learning_rate,
        lr_scheduler_type=t.lr_scheduler,
        # transformers 5 folded warmup_ratio into warmup_steps: a float in [0, 1) is a ratio.
        warmup_steps=min(t.warmup_ratio, math.nextafter(1.0, 0.0)),
        weight_decay=t.weight_decay,
        max_grad_norm=t.max_grad_norm,
        eval_strategy="steps" if has_val else "no",
        eval_steps=t.eval_steps,
        save_strategy="steps",
        save_steps=t.save_steps,
        save_total_limit=t.save_total_limit,
        logging_strategy="steps",
        logging_steps=t.logging_steps,
        seed=config.seed,
        data_seed=config.seed,
        bf16=precision.bf16,
        fp16=precision.fp16,
        use_cpu=device.type == "cpu",
        report_to="none",
        disable_tqdm=True,
        include_num_input_tokens_seen="all" if plan.mode == batching.PACKED else "non_padding",
        use_cache=False,  # no KV cache in training: transformers' packed-sequence detection needs none
        activation_checkpointing=t.gradient_checkpointing,  # transformers 5's name for it
        activation_checkpointing_kwargs={"use_reentrant": False} if t.gradient_checkpointing else None,
        use_liger_kernel=t.liger,
        remove_unused_columns=False,
        label_names=["labels"],
        # early stopping and best-checkpoint keeping watch the validation loss (checked in prepare)
        load_best_model_at_end=t.load_best_model_at_end and has_val,
        metric_for_best_model="eval_loss" if watches_val_loss(config) and has_val else None,
        greater_is_better=False if watches_val_loss(config) and has_val else None,
        dataloader_pin_memory=device.type == "cuda",
        # every trainable parameter (LoRA matrices, heads, modules_to_save) takes part in each
        # forward pass, so DDP need not search the graph for unused ones (the default for a
        # PeftModel), which costs a traversal per step and warns on every rank
        ddp_find_unused_parameters=False,
    )


def watches_val_loss(config: TrainConfig) -> bool:
    """Whether early stopping or best-checkpoint keeping is on (both follow the validation loss)."""
    return config.training.early_stopping_patience is not None or config.training.load_best_model_at_end


def _early_stopping(config: TrainConfig, has_val: bool) -> List[Any]:
    """The Trainer's EarlyStoppingCallback when ``training.early_stopping_patience`` is set: stop
    after that many evaluations without the loss improving by more than ``early_stopping_min_delta``."""
    patience = config.training.early_stopping_patience
    if patience is None or not has_val:
        return []
    from transformers import EarlyStoppingCallback

    return [
        EarlyStoppingCallback(
            early_stopping_patience=patience,
            early_stopping_threshold=config.training.early_stopping_min_delta,
        )
    ]


def run_train_loss(log_history: Sequence[Mapping[str, Any]]) -> Optional[float]:
    """Step-weighted mean of the logged training losses: each entry covers the steps since the last."""
    total = 0.0
    previous = 0
    for entry in log_history:
        if "loss" in entry and "step" in entry:
            total += float(entry["loss"]) * (entry["step"] - previous)
            previous = entry["step"]
    return total / previous if previous else None


def _bridge(callbacks: TrainCallbacks) -> Any:
    """A TrainerCallback forwarding events to ``callbacks`` (main process only) that also makes the
    Trainer log the final and checkpoint steps, so that :func:`run_train_loss` covers every step."""
    from transformers import TrainerCallback

    class Bridge(TrainerCallback):
        def __init__(self) -> None:
            self.start_tokens = 0

        def on_train_begin(self, args: Any, state: Any, control: Any, **kwargs: Any) -> None:
            self.start_tokens = state.num_input_tokens_seen
            if state.is_world_process_zero:
                callbacks.start(state.max_steps)

        def on_step_end(self, args: Any, state: Any, control: Any, **kwargs: Any) -> None:
            # log at the last step and at every checkpoint, so that the logged losses cover every step
            # even when a run resumes from a checkpoint (unlogged loss would die with the process)
            if state.global_step >= state.max_steps or control.should_save:
                control.should_log = True
            if state.is_world_process_zero:
                callbacks.step(state.global_step, state.max_steps)
            _injected_crash(args.process_index)

        def on_log(
            self, args: Any, state: Any, control: Any, logs: Optional[Dict[str, Any]] = None, **kwargs: Any
        ) -> None:
            if state.is_world_process_zero and logs:
                numbers = {
                    k: float(v)
                    for k, v in logs.items()
                    if isinstance(v, (int, float)) and not isinstance(v, bool)
                }
                callbacks.log(state.global_step, numbers)

    return Bridge()


def _injected_crash(process_index: int) -> None:
    """Test hook: ``VERIFILY_TEST_CRASH_RANK=N`` makes rank N fail after its first step, so tests
    can check that a crashed rank fails the whole distributed run instead of hanging it."""
    import os

    if os.environ.get("VERIFILY_TEST_CRASH_RANK") == str(process_index):
        raise RuntimeError(f"injected crash in rank {process_index} (VERIFILY_TEST_CRASH_RANK)")


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


def _save(
    trainer: Any,
    model: Any,
    tokenizer: Any,
    config: TrainConfig,
    output_dir: Path,
    ref: ModelRef,
    architecture: str,
    labels: List[str],
) -> None:
    out = Path(output_dir)
    if not config.lora.enabled:
        trainer.save_model(str(out / MODEL_DIR))
    if not trainer.is_world_process_zero():
        return
    if config.lora.enabled:
        model.save_pretrained(str(out / ADAPTER_DIR))
        if not config.output.save_adapter_only:
            _save_merged(out, ref, architecture, labels)
    tokenizer.save_pretrained(str(out / TOKENIZER_DIR))


def _save_merged(out: Path, ref: ModelRef, architecture: str, labels: List[str]) -> None:
    """Merge the saved adapter into a fresh full-precision base (also right after QLoRA)."""
    from peft import PeftModel

    base = loading.load_model(ref, architecture, labels=labels)
    merged = PeftModel.from_pretrained(base, str(out / ADAPTER_DIR)).merge_and_unload()
    merged.save_pretrained(str(out / MODEL_DIR))


def _labels(request: TrainRequest) -> List[str]:
    if request.config.task != "classification":
        return []
    if request.labels:
        return list(request.labels)
    return sorted({e.label for e in request.train_examples if isinstance(e, ClassificationExample)})


def _last(log_history: Sequence[Mapping[str, Any]], key: str) -> Optional[float]:
    values = [float(e[key]) for e in log_history if key in e]
    return values[-1] if values else None


def _val_truncation_warning(val_set: EncodedSet, max_length: int) -> List[str]:
    if not val_set.truncated_rows:
        return []
    return [
        f"{val_set.truncated_rows} validation row(s) were truncated to max_seq_length={max_length} "
        f"({val_set.truncated_tokens} tokens cut)."
    ]
