"""Batched generation against one-at-a-time generation, same model, same prompts, same process.

The model is the tiny llama with a freshly trained adapter (a few steps are enough: generation speed
does not depend on how good the answers are). Greedy decoding, identical outputs are checked.
"""

from __future__ import annotations

import json
import os
import tempfile
import time
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_VERBOSITY", "error")

PROMPTS, MAX_NEW, BATCH = 64, 16, 32


def main() -> None:
    from verifily_adapters.hf_backend.tiny import build_tiny_causal_lm
    from verifily_core.bootstrap import build_training, ports_for_run
    from verifily_core.config import TrainConfig
    from verifily_core.domain.examples import SFTExample
    from verifily_core.services.training.train import train
    from verifily_core.testing.sample_data import reverse_rows

    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        model = build_tiny_causal_lm(root / "tiny")
        rows = reverse_rows(PROMPTS, 1)
        (root / "train.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
        config = TrainConfig.from_dict(
            {
                "task": "sft",
                "base_model": str(model),
                "data_paths": {"train": str(root / "train.jsonl")},
                "training": {
                    "num_epochs": 1,
                    "batch_size": 16,
                    "gradient_accumulation_steps": 1,
                    "max_seq_length": 64,
                    "save_steps": 10_000,
                },
                "compute": {"device": "cpu", "bf16": False},
                "eval": {"enabled": False},
                "output": {"dir": str(root / "runs")},
                "trackers": [],
            }
        )
        run = train(config, build_training(config))
        store, run_id, backend = ports_for_run(Path(run.artifact_path))
        info = store.read_json(run_id, "training_info.json")
        predictor = backend.load(Path(run.artifact_path), info, device="cpu")
        examples = [
            SFTExample(instruction=r["instruction"], input=r["input"], output=r["output"]) for r in rows
        ]
        predictor.generate(examples[:2], max_new_tokens=MAX_NEW, num_beams=1, batch_size=2)  # warm-up
        t0 = time.perf_counter()
        batched = predictor.generate(examples, max_new_tokens=MAX_NEW, num_beams=1, batch_size=BATCH)
        t_batched = time.perf_counter() - t0
        t0 = time.perf_counter()
        single = predictor.generate(examples, max_new_tokens=MAX_NEW, num_beams=1, batch_size=1)
        t_single = time.perf_counter() - t0
        same = sum(a == b for a, b in zip(batched, single))
        print(f"one at a time   {t_single:7.2f} s for {PROMPTS} prompts")
        print(f"batched ({BATCH})    {t_batched:7.2f} s for {PROMPTS} prompts")
        print(
            f"speed-up        {t_single / t_batched:7.2f}x  (target >= 5x); "
            f"identical outputs {same}/{PROMPTS}"
        )


if __name__ == "__main__":
    main()
