"""What a training run is given (the ports, built by ``bootstrap``) and what it returns.

Its own module so that every use case that trains (train, resume, rerun, tune, attribute) can name
the dependencies without importing the train use case, which is what once made an import cycle.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable, Dict, List, Optional, Sequence

from verifily_core.config import TrainConfig
from verifily_core.ports.artifact_store import ArtifactStore
from verifily_core.ports.billing_sink import BillingSink
from verifily_core.ports.model_backend import ModelBackend
from verifily_core.ports.tracker import Tracker

if TYPE_CHECKING:  # a name for annotations only: importing the evaluation code is the caller's choice
    from verifily_core.domain.evaluation import EvalResult


@dataclass
class TrainRun:
    """What ``train()`` returns: the guide's run object."""

    run_id: str
    artifact_path: str
    status: str
    reproducibility_hash: str
    metrics: Dict[str, Any] = field(default_factory=dict)
    duration_seconds: float = 0.0
    summary: Dict[str, Any] = field(default_factory=dict)
    warnings: List[str] = field(default_factory=list)
    eval_result: Optional[EvalResult] = None  # the evaluation at the end of training, when one ran


@dataclass
class TrainDependencies:
    """The ports a training run talks to (built by ``bootstrap``)."""

    backend: ModelBackend
    store: ArtifactStore
    tracker_types: Sequence[type[Tracker]] = ()
    sink_types: Sequence[type[BillingSink]] = ()
    evaluate: Optional[Callable[..., EvalResult]] = None  # (store, run_id, backend) -> its evaluation
    signing_key: Optional[Path] = None  # an Ed25519 private key (PEM): sign the sealed run with it


DepsFactory = Callable[[TrainConfig], TrainDependencies]
"""What a use case that trains many runs (tune, attribute) is given instead of dependencies: each
run's config may differ (its trial's parameters, its left-out source), so each gets its own ports
(``bootstrap.build_training``)."""
