#!/usr/bin/env bash
# The peer throughput bench (issue 16) on one CUDA GPU: verifily (packed, length-grouped, packed +
# Liger) vs the hand-written Trainer+PEFT script vs TRL's SFTTrainer (padding, padding_free, packing)
# on a ~0.47B llama built from a config (hidden 1024, 28 layers), bf16, length-skewed rows, one epoch.
# FlashAttention 2 and Liger are used where they install: the device machine has no network, so their
# wheels (and TRL's: trl, datasets and their deps) travel in .whl/ like in gpu_check.sh. Sized to end
# in about 8 minutes on an H100/H200; the table is also written to $OUT/gpu_bench.txt.
set -uo pipefail
OUT=${OUT:-/tmp/gpu-bench-out}; mkdir -p "$OUT"
ROWS=${ROWS:-2000}
export HF_HUB_OFFLINE=1 TRANSFORMERS_OFFLINE=1 TOKENIZERS_PARALLELISM=false PYTHONUNBUFFERED=1
if [ -d .whl ]; then
  python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target /tmp/site .whl/*.whl || exit 3
  export PYTHONPATH=/tmp/site
fi
python3 -m pip install -q --no-deps --no-build-isolation -e . >/dev/null 2>&1 || { echo "editable install failed"; exit 3; }
nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader
python3 - <<'PY'
import importlib.metadata as m
names = ("torch", "transformers", "peft", "accelerate", "trl", "datasets", "flash_attn", "liger_kernel")
def version(p):
    try:
        return m.version(p)
    except m.PackageNotFoundError:
        return None
print({p: version(p) for p in names})
PY
TOOLS=verifily-packed,verifily-grouped,hand-written,trl-padding,trl-padding_free,trl-packing
python3 -c "import liger_kernel" 2>/dev/null && TOOLS="$TOOLS,verifily-packed-liger"
timeout 540 python3 bench/bench_peers.py --device cuda --model 0.5b --rows "$ROWS" --rounds 1 --tools "$TOOLS" \
  2>&1 | grep -v -i warn | tee "$OUT/gpu_bench.txt"
