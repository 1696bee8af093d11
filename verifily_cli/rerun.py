"""``verifily reproduce`` without ``--verify-only``: re-train, compare, print a verdict."""

from __future__ import annotations

from pathlib import Path
from typing import Optional

from verifily_cli.render import out, print_json, progress, relative


def weights_close(a: str, b: str, atol: float) -> Optional[str]:
    """None when two safetensors files hold the same tensors within ``atol``; else the reason."""
    if not a.endswith(".safetensors"):
        return "bytes differ (only .safetensors files can be compared with a tolerance)"
    import numpy as np
    from safetensors.numpy import load_file

    left, right = load_file(a), load_file(b)
    if set(left) != set(right):
        return f"different tensors: {sorted(set(left) ^ set(right))[:3]}"
    worst = max(
        (
            float(np.max(np.abs(left[k].astype(np.float64) - right[k].astype(np.float64))))
            for k in left
            if left[k].size
        ),
        default=0.0,
    )
    return None if worst <= atol else f"max |difference| {worst:.3g} > atol {atol}"


def run_full_reproduce(run: Path, *, atol: Optional[float], json_output: bool) -> int:
    from verifily_core.bootstrap import training_for_run
    from verifily_core.domain.training import TrainCallbacks
    from verifily_core.services.rerun import rerun

    deps, run_id = training_for_run(run)
    with progress(f"Re-training {run_id}", enabled=not json_output) as bar:
        report = rerun(
            run_id,
            deps,
            atol=atol,
            weights_close=weights_close,
            callbacks=TrainCallbacks(on_start=bar.start, on_step=bar.step, on_log=bar.log),
        )
    if json_output:
        print_json(report.to_dict())
    else:
        out.print(f"Reproduction: {run_id} re-trained as {report.new_run_id}", markup=False)
        for name, status in report.checks.items():
            out.print(f"  {name + ':':<18}{status}", markup=False)
        for line in report.details:
            out.print(f"    {line}", markup=False)
        out.print(f"  {'Overall:':<18}{report.verdict}", markup=False)
        out.print(f"  New run:          {relative(report.new_run_path)}", markup=False)
    return 1 if report.verdict == "FAIL" else 0
