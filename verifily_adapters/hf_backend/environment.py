"""The environment snapshot of the HF backend, read without importing torch.

``reproduce --verify-only`` recomputes the environment hash from this, so it must be cheap and
deterministic: package versions come from installed metadata (not from importing the packages),
the platform is reduced to OS and machine (kernel patch levels would change the hash on every
update), and GPU names come from ``nvidia-smi`` when the binary exists.
"""

from __future__ import annotations

import os
import platform
import shutil
import subprocess
from importlib import metadata
from typing import Dict, Optional, Tuple

PACKAGES = (
    "torch",
    "transformers",
    "peft",
    "accelerate",
    "bitsandbytes",
    "tokenizers",
    "safetensors",
    "verifily-train",
)
NOT_INSTALLED = "not installed"


def package_version(name: str) -> str:
    try:
        return metadata.version(name)
    except metadata.PackageNotFoundError:
        return NOT_INSTALLED


def gpu_names() -> str:
    """Comma-separated GPU names from ``nvidia-smi``, or ``none``."""
    binary = shutil.which("nvidia-smi")
    if binary is None:
        return "none"
    try:
        result = subprocess.run(
            [binary, "--query-gpu=name", "--format=csv,noheader"],
            capture_output=True,
            text=True,
            timeout=10,
            check=False,
        )
    except (OSError, subprocess.SubprocessError):
        return "none"
    names = [line.strip() for line in result.stdout.splitlines() if line.strip()]
    return ", ".join(names) if result.returncode == 0 and names else "none"


def detect_compute() -> Tuple[str, Optional[str], int]:
    """``(device, gpu_type, num_gpus)`` of this machine without importing torch, for billing spans
    whose caller did not say: the GPUs ``nvidia-smi`` lists (those of ``CUDA_VISIBLE_DEVICES`` when
    it is set), else ``mps`` on Apple Silicon, else ``cpu``."""
    listed = gpu_names()
    names = [] if listed == "none" else [n.strip() for n in listed.split(",") if n.strip()]
    visible = os.environ.get("CUDA_VISIBLE_DEVICES")
    if names and visible is not None:
        wanted = [v.strip() for v in visible.split(",") if v.strip()]
        names = [names[int(v)] for v in wanted if v.isdigit() and int(v) < len(names)]
    if names:
        return "cuda", names[0], len(names)
    if platform.system() == "Darwin" and platform.machine() == "arm64":
        return "mps", None, 0
    return "cpu", None, 0


def environment() -> Dict[str, str]:
    env = {"python": platform.python_version(), "platform": f"{platform.system()}-{platform.machine()}"}
    env.update({name: package_version(name) for name in PACKAGES})
    env["gpus"] = gpu_names()
    return env
