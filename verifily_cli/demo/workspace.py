"""The demo's workspace: tagged example data and configs, written in a few milliseconds.

The classification data is built so that the answer to "which data helped?" is known in advance:
``human.jsonl`` is clean, ``synthetic.jsonl`` has the same kind of text with a share of its labels
flipped on purpose. The shared test set is tagged by ``domain`` and ``difficulty`` so that slices
show *where* the noisy source hurts.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Dict, List

import yaml

from verifily_core.testing.sample_data import reverse_rows, sentiment_rows

NOISE_RATE = 0.45
ATTRIBUTE_EPOCHS = 2


def _write_jsonl(path: Path, rows: List[Dict[str, Any]]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")


def classification_config(model_path: str, train_file: str, name: str) -> Dict[str, Any]:
    return {
        "task": "classification",
        "base_model": model_path,
        "seed": 42,
        "name": name,
        "data_paths": {
            "train": train_file,
            "val": "data/sentiment_val.jsonl",
            "test": "data/sentiment_test.jsonl",
        },
        "training": {
            "num_epochs": 4,
            "batch_size": 8,
            "gradient_accumulation_steps": 1,
            "learning_rate": 2e-3,
            "lr_scheduler": "constant",
            "warmup_ratio": 0.0,
            "max_seq_length": 64,
            "logging_steps": 5,
            "eval_steps": 20,
            "save_steps": 1000,
            "save_total_limit": 1,
        },
        "lora": {"enabled": True, "r": 8, "alpha": 16, "dropout": 0.0},
        "compute": {"device": "cpu", "bf16": False},
        "eval": {"slice_by_tags": ["difficulty", "domain"], "hard_examples": 10, "batch_size": 32},
        "output": {"dir": "runs/"},
    }


def sft_config(model_path: str) -> Dict[str, Any]:
    return {
        "task": "sft",
        "base_model": model_path,
        "seed": 42,
        "name": "sft_reverse",
        "data_paths": {
            "train": "data/reverse_train.jsonl",
            "val": "data/reverse_val.jsonl",
            "test": "data/reverse_test.jsonl",
        },
        "training": {
            "num_epochs": 25,
            "batch_size": 16,
            "gradient_accumulation_steps": 1,
            "learning_rate": 5e-3,
            "lr_scheduler": "constant",
            "warmup_ratio": 0.0,
            "max_seq_length": 64,
            "logging_steps": 10,
            "eval_steps": 50,
            "save_steps": 1000,
            "save_total_limit": 1,
        },
        "lora": {
            "enabled": True,
            "r": 16,
            "alpha": 32,
            "dropout": 0.0,
            "target_modules": "all-linear",
            "modules_to_save": ["embed_tokens", "lm_head"],
        },
        "compute": {"device": "cpu", "bf16": False},
        "eval": {
            "slice_by_tags": ["difficulty"],
            "hard_examples": 5,
            "batch_size": 32,
            "generation_max_new_tokens": 12,
            "generation_num_beams": 1,
        },
        "output": {"dir": "runs/"},
    }


def attribute_config(model_path: str) -> Dict[str, Any]:
    """Both sources as two files (so ``_source_dataset`` tells them apart) for ``verifily attribute``;
    one epoch and no validation passes keep the study's three runs short."""
    config = classification_config(model_path, "", "cls_mixed")
    config["data_paths"].update(train=["data/human.jsonl", "data/synthetic.jsonl"], val=None)
    config["training"]["num_epochs"] = ATTRIBUTE_EPOCHS
    return config


def write_workspace(root: Path, *, minilm_path: str, tiny_lm_path: str) -> Dict[str, Path]:
    """Write data and configs under ``root``; returns the config paths by role."""
    data = root / "data"
    _write_jsonl(data / "human.jsonl", sentiment_rows(96, 1, "human"))
    _write_jsonl(data / "synthetic.jsonl", sentiment_rows(96, 2, "synthetic", noise=NOISE_RATE))
    _write_jsonl(data / "sentiment_val.jsonl", sentiment_rows(24, 3, "heldout"))
    _write_jsonl(data / "sentiment_test.jsonl", sentiment_rows(60, 4, "heldout"))
    _write_jsonl(data / "reverse_train.jsonl", reverse_rows(192, 5))
    _write_jsonl(data / "reverse_val.jsonl", reverse_rows(16, 6))
    _write_jsonl(data / "reverse_test.jsonl", reverse_rows(24, 7))
    configs = {
        "human": classification_config(minilm_path, "data/human.jsonl", "cls_human"),
        "synthetic": classification_config(minilm_path, "data/synthetic.jsonl", "cls_synthetic"),
        "sft": sft_config(tiny_lm_path),
        "attribute": attribute_config(minilm_path),
    }
    paths = {}
    for role, cfg in configs.items():
        path = root / f"{role}.yaml"
        path.write_text(yaml.safe_dump(cfg, sort_keys=False), encoding="utf-8")
        paths[role] = path
    return paths
