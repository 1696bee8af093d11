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
from pathlib import Path
from typing import Any, Dict, List

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_VERBOSITY", "error")

ROWS, EPOCHS, BATCH, LR, MAX_LEN, SEED = 256, 2, 16, 5e-3, 64, 42


def write_data(root: Path) -> Path:
    from verifily_cli.demo.workspace import reverse_rows

    path = root / "train.jsonl"
    path.write_text("".join(json.dumps(r) + "\n" for r in reverse_rows(ROWS, 1)))
    return path


def ours(model: Path, data: Path, out: Path) -> Dict[str, Any]:
    from verifily_core.bootstrap import build_training
    from verifily_core.config import TrainConfig
    from verifily_core.services.train import train

    config = TrainConfig.from_dict(
        {
            "task": "sft",
            "base_model": str(model),
            "seed": SEED,
            "data_paths": {"train": str(data)},
            "training": {
                "num_epochs": EPOCHS,
                "batch_size": BATCH,
                "gradient_accumulation_steps": 1,
                "learning_rate": LR,
                "lr_scheduler": "constant",
                "warmup_ratio": 0.0,
                "max_seq_length": MAX_LEN,
                "logging_steps": 10,
                "save_steps": 10_000,
            },
            "lora": {"r": 8, "alpha": 16, "dropout": 0.0, "target_modules": "all-linear"},
            "compute": {"device": "cpu", "bf16": False},
            "eval": {"enabled": False},
            "output": {"dir": str(out)},
            "trackers": [],
        }
    )
    run = train(config, build_training(config))
    return {"tokens_per_second": run.summary["tokens_per_second"], "mfu": run.summary.get("mfu")}


def hand_written(model_dir: Path, data: Path, out: Path) -> Dict[str, Any]:
    """What a user writes without us: tokenise with prompt masking, LoRA, Trainer."""
    import torch
    from peft import LoraConfig, get_peft_model
    from transformers import AutoModelForCausalLM, AutoTokenizer, Trainer, TrainingArguments, set_seed

    from verifily_core.domain.prompts import build_prompt

    set_seed(SEED)
    tok = AutoTokenizer.from_pretrained(model_dir)
    model = get_peft_model(
        AutoModelForCausalLM.from_pretrained(model_dir),
        LoraConfig(r=8, lora_alpha=16, lora_dropout=0.0, target_modules="all-linear", task_type="CAUSAL_LM"),
    )
    rows = [json.loads(line) for line in data.read_text().splitlines()]
    features: List[Dict[str, List[int]]] = []
    for r in rows:
        prompt = tok(build_prompt(r["instruction"], r.get("input", "")))["input_ids"]
        answer = tok(r["output"], add_special_tokens=False)["input_ids"] + [tok.eos_token_id]
        ids = (prompt + answer)[:MAX_LEN]
        features.append({"input_ids": ids, "labels": ([-100] * len(prompt) + answer)[:MAX_LEN]})

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
        num_train_epochs=EPOCHS,
        per_device_train_batch_size=BATCH,
        learning_rate=LR,
        lr_scheduler_type="constant",
        logging_steps=10,
        save_strategy="no",
        report_to=[],
        use_cpu=True,
        seed=SEED,
        disable_tqdm=True,
    )
    trainer = Trainer(model=model, args=args, train_dataset=features, data_collator=collate)
    t0 = time.perf_counter()
    trainer.train()
    wall = time.perf_counter() - t0
    tokens = sum(len(f["input_ids"]) for f in features) * EPOCHS
    return {"tokens_per_second": tokens / wall}


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
