"""Training throughput: `verifily train` against a hand-written HF Trainer + PEFT script.

Same tiny llama, same data, same prompt format and label masking, same LoRA and Trainer settings,
measured in the same process, alternating A/B/A/B (machines are noisy: compare the ratio, not the
absolute numbers). Tokens/s counts real (non-padding) tokens seen by training, in both cases.
Also prints the MFU that `verifily train` reports in train_summary.json.
"""

from __future__ import annotations

import json
import os
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Dict, List

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_VERBOSITY", "error")

ROWS = 256


@dataclass(frozen=True)
class Workload:
    """The settings every tool of a comparison shares (bench_peers.py reuses these runners)."""

    epochs: float = 2
    batch: int = 16
    accumulation: int = 1
    lr: float = 5e-3
    max_len: int = 64
    seed: int = 42
    r: int = 8
    alpha: int = 16
    device: str = "cpu"
    bf16: bool = False


def write_data(root: Path) -> Path:
    from verifily_core.testing.sample_data import reverse_rows

    path = root / "train.jsonl"
    path.write_text("".join(json.dumps(r) + "\n" for r in reverse_rows(ROWS, 1)))
    return path


def ours(model: Path, data: Path, out: Path, w: Workload = Workload(), **training: Any) -> Dict[str, Any]:
    """`verifily train` through the library; ``training`` overrides ``training.*`` keys (packing...)."""
    from verifily_core.bootstrap import build_training
    from verifily_core.config import TrainConfig
    from verifily_core.domain.training import TrainCallbacks
    from verifily_core.services.training.train import train

    config = TrainConfig.from_dict(
        {
            "task": "sft",
            "base_model": str(model),
            "seed": w.seed,
            "data_paths": {"train": str(data)},
            "training": {
                "num_epochs": w.epochs,
                "batch_size": w.batch,
                "gradient_accumulation_steps": w.accumulation,
                "learning_rate": w.lr,
                "lr_scheduler": "constant",
                "warmup_ratio": 0.0,
                "weight_decay": 0.0,  # the Trainer's and TRL's default (ours is 0.01): one objective for all
                "max_seq_length": w.max_len,
                "logging_steps": 10,
                "save_steps": 10_000,
                **training,
            },
            "lora": {"r": w.r, "alpha": w.alpha, "dropout": 0.0, "target_modules": "all-linear"},
            "compute": {"device": w.device, "bf16": w.bf16},
            "eval": {"enabled": False},
            "output": {"dir": str(out)},
            "trackers": [],
        }
    )
    cpu: List[float] = []  # process CPU seconds at the loop's start and after each step
    callbacks = TrainCallbacks(
        on_start=lambda _: cpu.append(time.process_time()), on_step=lambda *_: cpu.append(time.process_time())
    )
    run = train(config, build_training(config), callbacks=callbacks)
    summary = run.summary
    return {
        "adapter": str(Path(run.artifact_path) / "adapter"),
        "cpu": cpu[-1] - cpu[0],
        "tokens_per_second": summary["tokens_per_second"],
        "mfu": summary.get("mfu"),
        "wall": summary["wall_seconds"],
        "loss": summary["train_loss"],
        "steps": summary["global_step"],
        "batching": summary.get("batching"),
    }


def hand_written(model_dir: Path, data: Path, out: Path, w: Workload = Workload()) -> Dict[str, Any]:
    """What a user writes without us: tokenise with prompt masking, LoRA, Trainer."""
    import torch
    from peft import LoraConfig, get_peft_model
    from transformers import AutoModelForCausalLM, AutoTokenizer, Trainer, TrainingArguments, set_seed

    from verifily_core.domain.prompts import build_prompt

    set_seed(w.seed)
    tok = AutoTokenizer.from_pretrained(model_dir)
    model = get_peft_model(
        AutoModelForCausalLM.from_pretrained(model_dir),
        LoraConfig(
            r=w.r, lora_alpha=w.alpha, lora_dropout=0.0, target_modules="all-linear", task_type="CAUSAL_LM"
        ),
    )
    rows = [json.loads(line) for line in data.read_text().splitlines()]
    features: List[Dict[str, List[int]]] = []
    for r in rows:
        prompt = tok(build_prompt(r["instruction"], r.get("input", "")))["input_ids"]
        answer = tok(r["output"], add_special_tokens=False)["input_ids"] + [tok.eos_token_id]
        ids = (prompt + answer)[: w.max_len]
        features.append({"input_ids": ids, "labels": ([-100] * len(prompt) + answer)[: w.max_len]})

    def collate(batch: List[Dict[str, List[int]]]) -> Dict[str, Any]:
        width = max(len(b["input_ids"]) for b in batch)
        pad = tok.pad_token_id
        return {
            "input_ids": torch.tensor(
                [b["input_ids"] + [pad] * (width - len(b["input_ids"])) for b in batch]
            ),
            "attention_mask": torch.tensor(
                [[1] * len(b["input_ids"]) + [0] * (width - len(b["input_ids"])) for b in batch]
            ),
            "labels": torch.tensor([b["labels"] + [-100] * (width - len(b["labels"])) for b in batch]),
        }

    args = TrainingArguments(
        output_dir=str(out),
        num_train_epochs=w.epochs,
        per_device_train_batch_size=w.batch,
        gradient_accumulation_steps=w.accumulation,
        learning_rate=w.lr,
        lr_scheduler_type="constant",
        logging_steps=10,
        save_strategy="no",
        report_to=[],
        use_cpu=w.device == "cpu",
        bf16=w.bf16,
        seed=w.seed,
        disable_tqdm=True,
    )
    trainer = Trainer(model=model, args=args, train_dataset=features, data_collator=collate)
    t0, cpu0 = time.perf_counter(), time.process_time()
    result = trainer.train()
    wall = time.perf_counter() - t0
    tokens = sum(len(f["input_ids"]) for f in features) * w.epochs
    model.save_pretrained(out / "adapter")
    return {
        "adapter": str(out / "adapter"),
        "cpu": time.process_time() - cpu0,
        "tokens_per_second": tokens / wall,
        "wall": wall,
        "loss": result.training_loss,
        "steps": result.global_step,
    }


def main() -> None:
    from verifily_adapters.hf_backend.tiny import build_tiny_causal_lm

    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        model = build_tiny_causal_lm(root / "tiny")
        data = write_data(root)
        results: Dict[str, List[float]] = {"verifily": [], "hand-written": []}
        mfu = None
        for i in range(2):
            b = hand_written(model, data, root / f"hw{i}")
            results["hand-written"].append(b["tokens_per_second"])
            a = ours(model, data, root / f"runs{i}")
            results["verifily"].append(a["tokens_per_second"])
            mfu = a["mfu"]
        best = {k: max(v) for k, v in results.items()}
        print(
            f"tokens/s  hand-written Trainer+PEFT  {best['hand-written']:10.0f}  "
            f"(runs: {results['hand-written']})"
        )
        print(f"tokens/s  verifily train             {best['verifily']:10.0f}  (runs: {results['verifily']})")
        print(
            f"ratio verifily / hand-written        {best['verifily'] / best['hand-written']:10.3f}  "
            f"(overhead {100 * (1 - best['verifily'] / best['hand-written']):+.1f}%; target <= 5%)"
        )
        print(f"MFU reported by verifily            {mfu}")


if __name__ == "__main__":
    main()
