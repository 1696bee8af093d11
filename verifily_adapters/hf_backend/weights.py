"""Two weight files compared value by value within a tolerance (``reproduce --atol``).

Why safetensors only: it is a plain table of named arrays that numpy reads without torch and without
running code from the file; other files (configs, pickles) must match byte for byte.
"""

from __future__ import annotations

import filecmp
from pathlib import Path
from typing import Optional


def weights_close(a: Path, b: Path, atol: float) -> Optional[str]:
    """None when two safetensors files hold the same tensors within ``atol`` (or two files are
    identical); else the reason."""
    if filecmp.cmp(a, b, shallow=False):
        return None
    if Path(a).suffix != ".safetensors":
        return "bytes differ (only .safetensors files can be compared with a tolerance)"
    import numpy as np
    from safetensors.numpy import load_file

    left, right = load_file(str(a)), load_file(str(b))
    if set(left) != set(right):
        return f"different tensors: {sorted(set(left) ^ set(right))[:3]}"
    reshaped = [k for k in sorted(left) if left[k].shape != right[k].shape]
    if reshaped:
        key = reshaped[0]
        return f"tensor {key} has shape {left[key].shape} vs {right[key].shape}"
    worst = max(
        (
            float(np.max(np.abs(left[k].astype(np.float64) - right[k].astype(np.float64))))
            for k in left
            if left[k].size
        ),
        default=0.0,
    )
    return None if worst <= atol else f"max |difference| {worst:.3g} > atol {atol}"
