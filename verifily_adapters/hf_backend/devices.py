"""Device choice, mixed-precision fallback and the measured GEMM peak behind the MFU figure."""

from __future__ import annotations

import importlib.util
import os
import time
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Any, List, Optional

from verifily_adapters.hf_backend.loading import CAUSAL_LM
from verifily_core.errors import BackendError, ConfigError


@dataclass
class Precision:
    """The mixed-precision flags actually used, and why a requested one was dropped."""

    bf16: bool
    fp16: bool
    warnings: List[str] = field(default_factory=list)


def resolve_device(requested: str = "auto") -> Any:
    """``auto`` = CUDA > MPS > CPU; an explicit device that is not there is an error, not a fallback."""
    import torch

    has_mps = bool(getattr(torch.backends, "mps", None)) and torch.backends.mps.is_available()
    if requested in ("auto", "cuda") and torch.cuda.is_available():
        # one rank of a distributed launch owns the GPU of its local rank
        return torch.device("cuda", int(os.environ.get("LOCAL_RANK", torch.cuda.current_device())))
    if requested == "auto":
        return torch.device("mps") if has_mps else torch.device("cpu")
    device = torch.device(requested)
    if device.type == "cuda":
        if not torch.cuda.is_available():
            raise BackendError(
                f"Device '{requested}' requested but this torch build sees no CUDA GPU.",
                hint="Use compute.device: auto (or --device cpu).",
            )
        index = device.index or 0
        if index >= torch.cuda.device_count():
            raise BackendError(
                f"Device '{requested}' requested but only {torch.cuda.device_count()} "
                "CUDA device(s) are visible.",
                hint="Pick cuda:0 .. cuda:N-1 or auto.",
            )
        return torch.device("cuda", index)
    if device.type == "mps" and not has_mps:
        raise BackendError(
            "Device 'mps' requested but MPS (Apple Silicon) is not available here.",
            hint="Use compute.device: auto (or --device cpu).",
        )
    return device


def choose_precision(device: Any, bf16: bool, fp16: bool) -> Precision:
    """Keep a requested mixed precision only where the device runs it natively (CUDA).

    On CPU and MPS mixed precision is either unsupported by the Trainer or slower than fp32, so the
    request is dropped with a warning that the train service records in ``run_meta.json``.
    """
    import torch

    precision = Precision(bf16=False, fp16=False)
    if bf16 and fp16:
        precision.warnings.append("compute.bf16 and compute.fp16 are both set; using bf16 where supported.")
        fp16 = False
    if device.type == "cuda":
        if bf16 and torch.cuda.is_bf16_supported():
            precision.bf16 = True
        elif bf16:
            precision.fp16 = True
            precision.warnings.append(
                f"bf16 requested but {torch.cuda.get_device_name(device)} does not support it; using fp16."
            )
        precision.fp16 = precision.fp16 or fp16
        return precision
    for flag, name in ((bf16, "bf16"), (fp16, "fp16")):
        if flag:
            precision.warnings.append(
                f"compute.{name} requested but the {device.type} device has no native {name} training; "
                "training in fp32 instead."
            )
    return precision


def attention_implementation(device: Any, architecture: str) -> Optional[str]:
    """FlashAttention 2 for causal LMs on CUDA when ``flash_attn`` is installed (varlen kernels for
    packed rows, no padding computed); otherwise None: transformers' default, SDPA where supported."""
    if device.type == "cuda" and architecture == CAUSAL_LM and importlib.util.find_spec("flash_attn"):
        return "flash_attention_2"
    return None


def check_liger(requested: bool, device: Any) -> None:
    """``training.liger`` needs a CUDA device and the ``liger-kernel`` package (Triton kernels)."""
    if not requested:
        return
    if device.type != "cuda":
        raise ConfigError(
            f"training.liger needs a CUDA GPU (Liger kernels are Triton kernels); this run is on "
            f"{device.type}.",
            key="training.liger",
            hint="Set training.liger: false on this machine.",
        )
    if importlib.util.find_spec("liger_kernel") is None:
        raise ConfigError(
            "training.liger is set but the liger-kernel package is not installed.",
            key="training.liger",
            hint="pip install 'verifily-train[liger]', or set training.liger: false.",
        )


def gpu_name(device: Any) -> Optional[str]:
    """The GPU's name for billing and the summary; None off CUDA."""
    import torch

    return torch.cuda.get_device_name(device) if device.type == "cuda" else None


@lru_cache(maxsize=4)
def gemm_peak_flops(device_str: str) -> float:
    """Measured fp32 matmul throughput (FLOP/s) of the device: the denominator of MFU.

    Vendor peak numbers are unknown for CPUs and misleading for shared machines, so the peak is
    measured once per process with a square matmul (n=1024 on CPU, 4096 on GPUs).
    """
    import torch

    device = torch.device(device_str)
    n = 4096 if device.type == "cuda" else 1024
    a = torch.randn(n, n, device=device, dtype=torch.float32)
    b = torch.randn(n, n, device=device, dtype=torch.float32)
    reps = 3
    torch.matmul(a, b)
    _sync(device)
    start = time.perf_counter()
    for _ in range(reps):
        torch.matmul(a, b)
    _sync(device)
    elapsed = max(time.perf_counter() - start, 1e-9)
    return 2.0 * n**3 * reps / elapsed


def _sync(device: Any) -> None:
    import torch

    if device.type == "cuda":
        torch.cuda.synchronize(device)
    elif device.type == "mps":
        torch.mps.synchronize()
