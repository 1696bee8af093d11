"""Tiny real runs: a workspace with the tiny local llama and data files, and small CPU configs.

Every training test uses the same few-second shape (the tiny llama, LoRA on all linear layers, one
epoch of 8-row steps at a constant rate, CPU fp32); :func:`tiny_sft_config` holds that shape once
and a test states only what it changes, section by section.
"""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any, Dict, Iterable, List, Mapping

import yaml

from helpers.data import write_jsonl

TINY = "tiny"  # the folder of the tiny llama inside a workspace


def tiny_workspace(root: Path, **files: Iterable[Mapping[str, Any]]) -> Path:
    """``root`` with the tiny llama under ``tiny/`` and each ``name=rows`` as ``name.jsonl``."""
    from verifily_adapters.hf_backend.tiny import build_tiny_causal_lm

    build_tiny_causal_lm(root / TINY)
    for name, rows in files.items():
        write_jsonl(root / f"{name}.jsonl", rows)
    return root


def tiny_sft_config(**sections: Any) -> Dict[str, Any]:
    """A tiny SFT config; each keyword updates that section (a dict) or replaces a top-level value.

    ``tiny_sft_config(seed=5, training={"num_epochs": 6}, eval={"enabled": False})``"""
    config: Dict[str, Any] = {
        "task": "sft",
        "base_model": TINY,
        "seed": 3,
        "data_paths": {"train": "train.jsonl"},
        "training": {
            "num_epochs": 1,
            "batch_size": 8,
            "gradient_accumulation_steps": 1,
            "learning_rate": 5e-3,
            "lr_scheduler": "constant",
            "warmup_ratio": 0.0,
            "max_seq_length": 64,
        },
        "lora": {"r": 4, "dropout": 0.0, "target_modules": "all-linear"},
        "compute": {"device": "cpu", "bf16": False},
        "output": {"dir": "runs"},
    }
    for key, value in sections.items():
        if isinstance(value, dict) and isinstance(config.get(key), dict):
            config[key].update(copy.deepcopy(value))
        else:
            config[key] = copy.deepcopy(value)
    return config


def write_config(path: Path, config: Mapping[str, Any]) -> Path:
    """``config`` as YAML at ``path``; the path."""
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(yaml.safe_dump(dict(config)), encoding="utf-8")
    return path


def run_folder(runs: Path, name: str) -> Path:
    """The one run folder under ``runs`` whose id ends with ``name``."""
    found: List[Path] = [p for p in runs.iterdir() if p.is_dir() and p.name.endswith(name)]
    assert len(found) == 1, f"expected one run named *{name} in {runs}: {found}"
    return found[0]
