#!/usr/bin/env bash
# One prepared GPU check (issue 7): the tiny llama trained through `--distributed --num-gpus 1` in
# bf16 LoRA and in QLoRA 4-bit on CUDA. Run on a lent GPU machine from the repository root; wheels
# the machine lacks travel in .whl/ (see docs/distributed.md). Summaries are copied to $OUT.
set -uo pipefail
OUT=${OUT:-/tmp/gpu-check-out}; mkdir -p "$OUT"
export HF_HUB_OFFLINE=1 TRANSFORMERS_OFFLINE=1 TOKENIZERS_PARALLELISM=false PYTHONUNBUFFERED=1
if [ -d .whl ]; then
  python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target /tmp/site .whl/*.whl || exit 3
  export PYTHONPATH=/tmp/site
fi
python3 -m pip install -q --no-deps --no-build-isolation -e . >/dev/null 2>&1 || { echo "editable install failed"; exit 3; }
nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader
python3 - <<'PY'
import importlib.metadata as m
print({p: m.version(p) for p in ("torch", "transformers", "peft", "accelerate", "bitsandbytes", "pydantic")})
PY
W=/tmp/gpu-work; rm -rf "$W"; mkdir -p "$W"
python3 - "$W" <<'PY'
import json, sys
from pathlib import Path
import yaml
from verifily_adapters.hf_backend.tiny import build_tiny_causal_lm
from verifily_cli.demo.workspace import reverse_rows
w = Path(sys.argv[1])
build_tiny_causal_lm(w / "tiny")
for name, n, seed in (("train", 256, 1), ("test", 32, 3)):
    (w / f"{name}.jsonl").write_text("".join(json.dumps(r) + "\n" for r in reverse_rows(n, seed)))
base = {"task": "sft", "base_model": "tiny", "seed": 42,
        "data_paths": {"train": "train.jsonl", "test": "test.jsonl"},
        "training": {"num_epochs": 20, "batch_size": 16, "gradient_accumulation_steps": 1, "learning_rate": 5e-3,
                     "lr_scheduler": "constant", "warmup_ratio": 0.0, "max_seq_length": 64, "logging_steps": 20,
                     "save_steps": 100000},
        "lora": {"r": 16, "alpha": 32, "dropout": 0.0, "target_modules": "all-linear",
                 "modules_to_save": ["embed_tokens", "lm_head"]},
        "compute": {"device": "cuda", "bf16": True},
        "eval": {"hard_examples": 3, "batch_size": 32, "generation_max_new_tokens": 12, "generation_num_beams": 1},
        "output": {"dir": "runs"}}
(w / "bf16.yaml").write_text(yaml.safe_dump({**base, "name": "gpu_bf16"}))
q = json.loads(json.dumps(base)); q["lora"]["quantization"] = "4bit"; q["lora"]["bnb_4bit_compute_dtype"] = "bfloat16"
(w / "qlora.yaml").write_text(yaml.safe_dump({**q, "name": "gpu_qlora4"}))
PY
status=0
for cfg in bf16 qlora; do
  echo "== verifily train --config $cfg.yaml --distributed --num-gpus 1"
  ( cd "$W" && timeout 240 verifily train --config $cfg.yaml --distributed --num-gpus 1 ) 2>&1 | tail -15 || status=1
done
python3 - "$W" "$OUT" <<'PY'
import json, shutil, sys
from pathlib import Path
w, out = Path(sys.argv[1]), Path(sys.argv[2])
for run in sorted((w / "runs").glob("run_*")):
    meta = json.loads((run / "run_meta.json").read_text())
    s = json.loads((run / "train_summary.json").read_text()) if (run / "train_summary.json").exists() else {}
    keys = ("global_step", "train_loss", "wall_seconds", "tokens_per_second", "device", "gpu_type", "num_gpus",
            "world_size", "global_batch_size", "precision", "mfu", "warnings")
    print(run.name, meta["status"], meta.get("error"), {k: s.get(k) for k in keys},
          "eval:", meta.get("metrics", {}).get("eval"))
    for f in ("run_meta.json", "train_summary.json", "usage_summary.json"):
        if (run / f).exists():
            shutil.copy(run / f, out / f"{run.name}-{f}")
PY
exit $status
