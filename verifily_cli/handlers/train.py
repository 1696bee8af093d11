"""What ``verifily train`` does once its flags are parsed: config, wiring, progress, the report.

Distributed training (``--distributed`` or ``compute.distributed: true``): the backend plans the
launch (``ModelBackend.plan_launch``: for hf, ``accelerate launch ... -m verifily_train.cli <the
same arguments>``); this process starts it, forwards SIGINT/SIGTERM, echoes the children's stderr
while keeping its tail, and exits with their exit code. The children see the launcher's
environment and never launch again. When they fail and ``run_meta.json`` does not say so, the run
is marked ``failed`` with the crashed process's error (``ModelBackend.launch_failure``).
"""

from __future__ import annotations

import collections
import os
import signal
import subprocess
import sys
import threading
import uuid
from pathlib import Path
from typing import TYPE_CHECKING, Any, Deque, Dict, List, Optional, Sequence, Tuple

from verifily_cli.render import err, out, print_json, progress, relative

if TYPE_CHECKING:
    from verifily_core.config import TrainConfig
    from verifily_core.services.training.dependencies import TrainDependencies, TrainRun

TAIL_LINES = 200


def load_config(config_path: Path, overrides: Dict[str, Any]) -> TrainConfig:
    from verifily_core.config import TrainConfig

    config = TrainConfig.from_yaml(config_path)
    return config.apply_overrides(overrides) if overrides else config


def run_train(
    *,
    config_path: Path,
    overrides: Dict[str, Any],
    dry_run: bool,
    resume: Optional[Path],
    model_check: bool = True,
    accelerate_config: Optional[Path],
    json_output: bool,
    verbose: bool,
) -> None:
    from verifily_core.bootstrap import build_training, training_for_run
    from verifily_core.domain.training import TrainCallbacks
    from verifily_core.services.training.train import train

    if resume is not None:
        deps, run_id = training_for_run(resume)
        config = None
    else:
        config = load_config(config_path, overrides)
        deps = build_training(config)
        if _relaunch(config, deps, accelerate_config, dry_run):
            return
        run_id = None

    if dry_run:
        if config is None:  # --resume: a started run has no new config to check
            from verifily_core.errors import ConfigError

            raise ConfigError(
                "--dry-run checks a new run before it trains; --resume continues a run that already started.",
                hint="Drop --dry-run: a resumed run is checked against its seal (config, data, model) first.",
            )
        run = train(config, deps, dry_run=True, model_check=model_check)
        _print_dry_run(run, config, json_output)
        return

    from verifily_core.services.training import ranks

    main = ranks.current().is_main_process
    _interrupt_on_sigterm()
    with progress("Training", enabled=main and not json_output) as bar:
        callbacks = TrainCallbacks(on_start=bar.start, on_step=bar.step, on_log=bar.log)
        if run_id is not None:
            err.print(f"Resuming run {run_id} from its latest checkpoint")
            run = train(None, deps, callbacks=callbacks, resume_run_id=run_id)
        else:
            run = train(config, deps, callbacks=callbacks)
    if main:  # one report per launch, not one per process
        _print_result(run, json_output)


def _relaunch(
    config: TrainConfig, deps: TrainDependencies, accelerate_config: Optional[Path], dry_run: bool
) -> bool:
    """Hand the run to the backend's launcher when distributed; exits with the children's status.

    Returns False (train here) for a dry run, a single-process config, or inside a launched process.
    """
    from verifily_core.domain.distributed import LAUNCH_ID_ENV
    from verifily_core.services.training import ranks

    if dry_run or not config.compute.distributed or ranks.current().inside_launch:
        return False
    plan = deps.backend.plan_launch(config, sys.argv[1:], accelerate_config)
    if plan.note:
        err.print(f"Note: {plan.note}")
    launch_id = uuid.uuid4().hex
    rc, tail = _run_and_wait(plan.command, {**os.environ, LAUNCH_ID_ENV: launch_id})
    failed = ranks.settle_launch(deps.store, launch_id, rc, deps.backend.launch_failure(rc, tail))
    if failed is not None:
        err.print(f"Run {failed} marked failed: a training process crashed (see above).")
    if rc != 0:
        raise SystemExit(rc)
    return True


def _run_and_wait(cmd: Sequence[str], env: Dict[str, str]) -> Tuple[int, List[str]]:
    """Run the launcher, forward signals to it, echo its stderr, return (exit code, stderr tail)."""
    child = subprocess.Popen(list(cmd), env=env, stderr=subprocess.PIPE, text=True, errors="replace")
    tail: Deque[str] = collections.deque(maxlen=TAIL_LINES)

    def pump() -> None:
        assert child.stderr is not None
        for line in child.stderr:
            sys.stderr.write(line)
            tail.append(line.rstrip("\n"))

    reader = threading.Thread(target=pump, daemon=True)
    reader.start()

    def forward(signum: int, frame: Any) -> None:
        child.send_signal(signum)

    previous = {s: signal.signal(s, forward) for s in (signal.SIGINT, signal.SIGTERM)}
    try:
        rc = child.wait()
    finally:
        for s, handler in previous.items():
            signal.signal(s, handler)
    reader.join(timeout=5)
    return rc, list(tail)


def _interrupt_on_sigterm() -> None:
    """SIGTERM (a scheduler stopping the job) ends the run like Ctrl-C: status ``interrupted``.

    Inside a distributed launch SIGTERM comes from the launcher stopping the survivors of a crashed
    rank, so the run fails (the parent, if any, then records the crashed rank's own error).
    """
    import signal
    import threading

    from verifily_core.domain import distributed
    from verifily_core.errors import BackendError
    from verifily_core.services.training import ranks

    launched = ranks.current().world_size > 1

    def handler(signum: int, frame: Any) -> None:
        if launched:
            raise BackendError(distributed.STOPPED_BY_LAUNCHER)
        raise KeyboardInterrupt

    if threading.current_thread() is threading.main_thread():
        signal.signal(signal.SIGTERM, handler)


def _print_dry_run(run: TrainRun, config: TrainConfig, json_output: bool) -> None:
    if json_output:
        print_json(
            {
                "run_id": run.run_id,
                "status": run.status,
                "artifact_path": run.artifact_path,
                "reproducibility_hash": run.reproducibility_hash,
                "checks": run.summary,
                "warnings": run.warnings,
            }
        )
        return
    checks = run.summary
    out.print(f"Dry run OK: {run.run_id}")
    out.print(f"  Task:        {config.task}")
    out.print(f"  Base model:  {config.base_model}")
    if checks.get("device"):
        out.print(f"  Device:      {checks['device']}")
    if "truncated_rows" in checks:
        out.print(
            f"  Truncated:   {checks['truncated_rows']} of {checks.get('train_rows', '?')} training row(s) "
            f"({checks.get('truncated_tokens', 0)} token(s)) by max_seq_length="
            f"{config.training.max_seq_length}; every row keeps supervised tokens"
        )
    out.print(f"  Artifacts:   {relative(run.artifact_path)}")
    out.print(f"  Repro hash:  {run.reproducibility_hash}")
    for warning in run.warnings:
        err.print(f"[yellow]Warning:[/yellow] {warning}", markup=True)
    if checks.get("model_checked"):
        out.print("\nConfig, data, device, model and tokenization are valid; nothing was trained.")
    else:
        out.print(
            "\nConfig and data are valid (model, device and tokenization not checked: --no-model-check)."
        )
    out.print("Drop --dry-run to train.")


def _print_result(run: TrainRun, json_output: bool) -> None:
    if json_output:
        print_json(
            {
                "run_id": run.run_id,
                "status": run.status,
                "artifact_path": run.artifact_path,
                "metrics": run.metrics,
                "reproducibility_hash": run.reproducibility_hash,
                "summary": run.summary,
            }
        )
        return
    loss = run.metrics.get("train_loss")
    out.print(f"Run completed: {run.run_id}")
    out.print(f"  Duration:    {run.duration_seconds:.0f}s")
    out.print(f"  Train loss:  {loss:.4f}" if isinstance(loss, float) else f"  Train loss:  {loss}")
    if run.metrics.get("eval_loss") is not None:
        out.print(f"  Eval loss:   {run.metrics['eval_loss']:.4f}")
    truncated = run.summary.get("truncated_rows", 0)
    if truncated:
        out.print(
            f"  Truncated:   {truncated} row(s), {run.summary.get('truncated_tokens', 0)} token(s) "
            "cut by max_seq_length"
        )
    out.print(f"  Artifacts:   {relative(run.artifact_path)}")
    out.print(f"  Repro hash:  {run.reproducibility_hash}")
    for warning in run.warnings:
        err.print(f"[yellow]Warning:[/yellow] {warning}", markup=True)
    if run.eval_result is not None:
        from verifily_cli.render import metrics_line

        out.print(f"  Eval:        {metrics_line(run.eval_result.overall)}")
        out.print(
            f"\nEvaluated on the test set: {relative(run.artifact_path)}/eval/. Slice it further with "
            f"`verifily eval-cmd --run {relative(run.artifact_path)} --slice-by <tag>`."
        )
    else:
        out.print(f"\nRun `verifily eval-cmd --run {relative(run.artifact_path)}` to evaluate it.")
