"""The rules of a study shared by workers: the trial queue, the budget, and trials whose worker died.

Grid and random searches queue their whole plan (every combination, or a seeded sample of them),
each trial tagged with its plan index (``planned``). Workers only take queued trials, which the
study engine hands out atomically (``Study.ask``), so two workers never run the same planned
trial; and since a trial's values are fixed when it is queued, a trial killed at any moment can be
queued again with the same values. TPE proposes values as it goes instead; its repeats are caught
by the duplicate check of the tune service.

A trial is *interrupted* (failed, and queued again) when its worker stopped: Ctrl-C (marked by the
worker itself), a dead worker (the engine says so: on this machine, its process is gone), or
silence (the engine's heartbeats stopped: a lost machine). A failure of training itself always
carries an ``error``; a failed trial without one was released by the engine for its silence.
These rules speak only the study port, so every engine (Optuna, the in-memory fake) follows them.
"""

from __future__ import annotations

from typing import Dict, List, Optional, Sequence, Set

from verifily_core.domain.runs import iso, utc_now
from verifily_core.domain.search import Scalar
from verifily_core.ports.study import FAILED, RUNNING, SKIPPED, Study, Trial

WORKER_KEY = "worker:"  # study attrs "worker:<id>": every worker that joined the study

Plan = List[Dict[str, Scalar]]


def is_interrupted(t: Trial) -> bool:
    return t.state == FAILED and bool(t.attrs.get("interrupted") or "error" not in t.attrs)


def effective(trials: Sequence[Trial]) -> List[Trial]:
    """Trials that take a place in the budget: neither skipped nor interrupted."""
    return [t for t in trials if t.state != SKIPPED and not is_interrupted(t)]


def retried(trials: Sequence[Trial]) -> Set[int]:
    """Numbers of interrupted trials already queued again."""
    return {t.attrs["retry_of"] for t in trials if "retry_of" in t.attrs}


def requeue(study: Study, trial: Trial, plan: Optional[Plan]) -> None:
    """Queue an interrupted trial again, with the same values (from the plan when it has a place)."""
    planned = trial.attrs.get("planned")
    params = plan[planned] if plan is not None and planned is not None else dict(trial.params)
    if params:
        attrs = {"retry_of": trial.number, **({"planned": planned} if planned is not None else {})}
        study.enqueue(params, attrs)


def register(study: Study) -> None:
    """Record this worker among those that joined the study (``recover`` asks about the others)."""
    study.set_attr(WORKER_KEY + study.worker, iso(utc_now()))


def recover(study: Study, plan: Optional[Plan]) -> None:
    """Release the trials of dead workers and queue every interrupted trial again (this worker is
    registered).

    A running trial names its worker; one that does not yet (its worker died between taking it and
    writing its name) is dead when every other worker that ever joined the study is known to be
    gone. Anything else is left to the engine's heartbeat check.
    """
    me = study.worker
    others = [
        k[len(WORKER_KEY) :] for k in study.attrs() if k.startswith(WORKER_KEY) and k != WORKER_KEY + me
    ]
    nobody_else = all(study.worker_stopped(w) for w in others)
    for t in study.trials():
        if t.state != RUNNING:
            continue
        owner = t.attrs.get("worker")
        if (owner and owner != me and study.worker_stopped(owner)) or (not owner and nobody_else):
            study.release(t.number, f"interrupted: its worker {owner or '(unnamed)'} stopped")
    study.release_silent()
    trials = study.trials()
    done = retried(trials)
    for t in trials:
        if is_interrupted(t) and t.number not in done:
            requeue(study, t, plan)


def requeue_silent(study: Study, plan: Optional[Plan]) -> None:
    """Before each trial: release the trials of workers gone silent since, and queue them again."""
    released = set(study.release_silent())
    if released:
        for t in study.trials():
            if t.number in released:
                requeue(study, t, plan)


def ensure_plan(study: Study, plan: Plan) -> None:
    """Queue every planned trial that no live trial holds (all of them in a new study)."""
    held = {t.attrs.get("planned") for t in effective(study.trials())}
    for index, params in enumerate(plan):
        if index not in held:
            study.enqueue(params, {"planned": index})


__all__ = [
    "Plan",
    "effective",
    "ensure_plan",
    "is_interrupted",
    "recover",
    "register",
    "requeue",
    "requeue_silent",
    "retried",
]
