"""``verifily train``: flags become dotted config overrides; the core does the rest."""

from __future__ import annotations

from enum import Enum
from pathlib import Path
from typing import Any, Dict, Optional

import typer

from verifily_cli.errors import guarded
from verifily_cli.options import set_overrides, verbose_option


class Task(str, Enum):
    sft = "sft"
    classification = "classification"


class Quantization(str, Enum):
    none = "none"
    four = "4bit"
    eight = "8bit"


def overrides_from_flags(**flags: Any) -> Dict[str, Any]:
    """CLI flags → dotted config keys; paths given as flags resolve against the current folder."""
    mapping = {
        "base_model": "base_model",
        "task": "task",
        "dataset": "dataset_version",
        "output_dir": "output.dir",
        "device": "compute.device",
        "epochs": "training.num_epochs",
        "batch_size": "training.batch_size",
        "lr": "training.learning_rate",
        "lora_r": "lora.r",
        "quantization": "lora.quantization",
        "seed": "seed",
        "name": "name",
        "distributed": "compute.distributed",
        "num_gpus": "compute.num_gpus",
    }
    result: Dict[str, Any] = {}
    for flag, key in mapping.items():
        value = flags.get(flag)
        if value is None or (flag == "distributed" and not value):
            continue
        if isinstance(value, Enum):
            value = value.value
        if flag == "output_dir":
            value = str(Path(value).expanduser().resolve())
        result[key] = value
    return result


def train_command(
    config: Path = typer.Option(Path("train.yaml"), "--config", "-c", help="Training YAML config."),
    base_model: Optional[str] = typer.Option(
        None, "--base-model", help="Override the HuggingFace model ID or local path."
    ),
    task: Optional[Task] = typer.Option(None, "--task", help="Override the task type."),
    dataset: Optional[str] = typer.Option(
        None, "--dataset", help="Verifily dataset version ref (e.g. ds_abc@v3)."
    ),
    output_dir: Optional[Path] = typer.Option(
        None, "--output-dir", help="Override the output (runs) directory."
    ),
    device: Optional[str] = typer.Option(
        None,
        "--device",
        help="Device to train on: auto, cuda, cuda:N, mps or cpu (overrides compute.device).",
    ),
    epochs: Optional[float] = typer.Option(None, "--epochs", help="Override training.num_epochs."),
    batch_size: Optional[int] = typer.Option(None, "--batch-size", help="Override training.batch_size."),
    lr: Optional[float] = typer.Option(None, "--lr", help="Override training.learning_rate."),
    lora_r: Optional[int] = typer.Option(None, "--lora-r", help="Override the LoRA rank."),
    quantization: Optional[Quantization] = typer.Option(
        None, "--quantization", help="Quantize the frozen base weights (QLoRA; overrides lora.quantization)."
    ),
    seed: Optional[int] = typer.Option(None, "--seed", help="Override the random seed."),
    name: Optional[str] = typer.Option(
        None, "--name", help="Human-readable run name (part of the folder name)."
    ),
    distributed: bool = typer.Option(
        False, "--distributed", help="Multi-process training through Accelerate."
    ),
    num_gpus: Optional[int] = typer.Option(
        None, "--num-gpus", help="Processes/GPUs for distributed training."
    ),
    accelerate_config: Optional[Path] = typer.Option(
        None, "--accelerate-config", help="Accelerate config file passed to the launcher (multi-node)."
    ),
    resume: Optional[Path] = typer.Option(
        None, "--resume", help="Continue an interrupted run folder from its latest checkpoint."
    ),
    dry_run: bool = typer.Option(
        False,
        "--dry-run",
        help="Check everything a run needs without training: config, data, device, model files and "
        "the tokenization of every row (loads the tokenizer, not the weights). Writes a dryrun_ folder.",
    ),
    model_check: bool = typer.Option(
        True,
        "--model-check/--no-model-check",
        show_default=False,
        help="With --dry-run: --no-model-check validates only YAML and data (no torch import, no "
        "device/model/tokenizer check).",
    ),
    override: Optional[list[str]] = typer.Option(
        None,
        "--set",
        metavar="KEY=VALUE",
        help="Set any config key, e.g. --set training.warmup_ratio=0.1. Repeatable.",
    ),
    json_output: bool = typer.Option(False, "--json", help="Print the result as JSON."),
    verbose: bool = verbose_option(),
) -> None:
    """Train a LoRA adapter (or a full model) from a YAML config."""
    with guarded(verbose):
        from verifily_cli.handlers.train import run_train

        overrides = overrides_from_flags(
            base_model=base_model,
            task=task,
            dataset=dataset,
            output_dir=output_dir,
            device=device,
            epochs=epochs,
            batch_size=batch_size,
            lr=lr,
            lora_r=lora_r,
            quantization=quantization,
            seed=seed,
            name=name,
            distributed=distributed,
            num_gpus=num_gpus,
        )
        overrides.update(set_overrides(override))
        run_train(
            config_path=config,
            overrides=overrides,
            dry_run=dry_run,
            model_check=model_check,
            resume=resume,
            accelerate_config=accelerate_config,
            json_output=json_output,
            verbose=verbose,
        )
