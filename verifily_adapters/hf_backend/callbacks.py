"""What the Trainer reports while it runs: its events forwarded to the port's callbacks, and the
run's loss figures read back from its log history.

``train_loss`` is the step-weighted mean of every logged loss over the *whole* run (the bridge makes
the Trainer log the last step and every checkpoint step). The Trainer's own ``training_loss`` only
covers the current ``train()`` call, so it would change when a run is resumed; this one does not.
"""

from __future__ import annotations

from typing import Any, Dict, Mapping, Optional, Sequence

from verifily_core.domain.training import TrainCallbacks


def run_train_loss(log_history: Sequence[Mapping[str, Any]]) -> Optional[float]:
    """Step-weighted mean of the logged training losses: each entry covers the steps since the last."""
    total = 0.0
    previous = 0
    for entry in log_history:
        if "loss" in entry and "step" in entry:
            total += float(entry["loss"]) * (entry["step"] - previous)
            previous = entry["step"]
    return total / previous if previous else None


def bridge(callbacks: TrainCallbacks) -> Any:
    """A TrainerCallback forwarding events to ``callbacks`` (main process only) that also makes the
    Trainer log the final and checkpoint steps, so that :func:`run_train_loss` covers every step."""
    from transformers import TrainerCallback

    class Bridge(TrainerCallback):
        def __init__(self) -> None:
            self.start_tokens = 0

        def on_train_begin(self, args: Any, state: Any, control: Any, **kwargs: Any) -> None:
            self.start_tokens = state.num_input_tokens_seen
            if state.is_world_process_zero:
                callbacks.start(state.max_steps)

        def on_step_end(self, args: Any, state: Any, control: Any, **kwargs: Any) -> None:
            # log at the last step and at every checkpoint, so that the logged losses cover every step
            # even when a run resumes from a checkpoint (unlogged loss would die with the process)
            if state.global_step >= state.max_steps or control.should_save:
                control.should_log = True
            if state.is_world_process_zero:
                callbacks.step(state.global_step, state.max_steps)
            _injected_crash(args.process_index)

        def on_log(
            self, args: Any, state: Any, control: Any, logs: Optional[Dict[str, Any]] = None, **kwargs: Any
        ) -> None:
            if state.is_world_process_zero and logs:
                numbers = {
                    k: float(v)
                    for k, v in logs.items()
                    if isinstance(v, (int, float)) and not isinstance(v, bool)
                }
                callbacks.log(state.global_step, numbers)

    return Bridge()


def _injected_crash(process_index: int) -> None:
    """Test hook: ``VERIFILY_TEST_CRASH_RANK=N`` makes rank N fail after its first step, so tests
    can check that a crashed rank fails the whole distributed run instead of hanging it."""
    import os

    if os.environ.get("VERIFILY_TEST_CRASH_RANK") == str(process_index):
        raise RuntimeError(f"injected crash in rank {process_index} (VERIFILY_TEST_CRASH_RANK)")


def last_value(log_history: Sequence[Mapping[str, Any]], key: str) -> Optional[float]:
    values = [float(e[key]) for e in log_history if key in e]
    return values[-1] if values else None
