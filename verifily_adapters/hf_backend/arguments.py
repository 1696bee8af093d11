"""Every ``training.*`` key (and ``seed``) as the HF Trainer's TrainingArguments and callbacks.

Its own module because it is the one place to look when a config key reaches the Trainer wrongly;
``trainer`` only assembles the run.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any, List

from verifily_adapters.hf_backend import batching, devices
from verifily_adapters.hf_backend.artifacts import CHECKPOINTS_DIR
from verifily_core.config import TrainConfig


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


def early_stopping(config: TrainConfig, has_val: bool) -> List[Any]:
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
