"""train / evaluate / verify as the guide's Python section calls them."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any, Optional, Sequence, Union

from verifily_core.config import TrainConfig

if TYPE_CHECKING:  # the use cases load on call (this module stays light); their result types are named here
    from verifily_core.domain.evaluation import EvalResult
    from verifily_core.domain.hashchain import ReproduceResult
    from verifily_core.services.prediction.loading import LoadedRun
    from verifily_core.services.training.dependencies import TrainRun

PathLike = Union[str, Path]


def train(config: Union[TrainConfig, PathLike], **overrides: Any) -> TrainRun:
    """Train one run; returns a ``TrainRun`` with ``run_id``, ``metrics``, ``artifact_path``,
    ``reproducibility_hash``. Never prints or exits; raises ``VerifilyError`` subclasses.

    ``overrides`` are dotted keys with ``__`` for dots: ``train(cfg, training__learning_rate=5e-5)``.

    It trains in this process. ``compute.distributed: true`` is refused (``ConfigError``) unless this
    process is already one of a launch (a script started with ``accelerate launch``), where every
    process calls ``train`` and they share one run folder: a function cannot start and wait for
    several processes of itself the way ``verifily train --distributed`` does.
    """
    from verifily_core.bootstrap import build_training
    from verifily_core.errors import ConfigError
    from verifily_core.services.training import ranks
    from verifily_core.services.training.train import train as train_use_case

    cfg = config if isinstance(config, TrainConfig) else TrainConfig.from_yaml(config)
    if overrides:
        cfg = cfg.apply_overrides({k.replace("__", "."): v for k, v in overrides.items()})
    if cfg.compute.distributed and not ranks.current().inside_launch:
        raise ConfigError(
            "train() trains in this process; compute.distributed: true needs several processes.",
            key="compute.distributed",
            hint="Run `verifily train --config FILE --distributed` (or `accelerate launch -m "
            "verifily_train.cli train --config FILE`), start this script with `accelerate launch`, "
            "or set compute.distributed: false.",
        )
    return train_use_case(cfg, build_training(cfg))


def evaluate(
    run_path: PathLike,
    test_data: Optional[PathLike] = None,
    metrics: Optional[Sequence[str]] = None,
    slice_by: Optional[Sequence[str]] = None,
    hard_examples_n: Optional[int] = None,
    *,
    device: Optional[str] = None,
    batch_size: Optional[int] = None,
) -> EvalResult:
    """Evaluate a run; returns an ``EvalResult`` (``.overall``, ``.slices``, ``.hard_examples``)."""
    from verifily_core.bootstrap import ports_for_run
    from verifily_core.services.evaluation.evaluate import evaluate_run

    store, run_id, backend = ports_for_run(Path(run_path))
    return evaluate_run(
        store,
        run_id,
        backend,
        test_data=str(Path(test_data).expanduser().resolve()) if test_data else None,
        metrics=list(metrics) if metrics else None,
        slice_by=[slice_by] if isinstance(slice_by, str) else (list(slice_by) if slice_by else None),
        hard_examples_n=hard_examples_n,
        device=device,
        batch_size=batch_size,
    )


def verify(run_path: PathLike, *, key: Optional[PathLike] = None) -> ReproduceResult:
    """Check a run's hash chain and files; returns a ``ReproduceResult``.

    ``.verdict`` is strictly ``"PASS"`` or ``"FAIL"``; ``.warnings`` lists what warned (another
    machine's environment, an unhashed base model) and ``.checks`` every check's status. ``key``, a
    PEM Ed25519 public key, makes a valid signature by its private key mandatory.
    """
    from verifily_core.bootstrap import ports_for_run
    from verifily_core.services.reproduction.verify import verify as verify_use_case

    store, run_id, backend = ports_for_run(Path(run_path))
    return verify_use_case(
        store,
        run_id,
        environment=backend.environment(),
        locate_model=backend.locate_model,
        public_key=Path(key) if key is not None else None,
    )


def load_run(run_path: PathLike, *, device: Optional[str] = None) -> LoadedRun:
    """A trained run's model, loaded once after its seal was checked; ``.predict(rows)`` returns the
    generated text (sft) or ``{"label", "probabilities"}`` (classification) for each row, rendered and
    decoded as in evaluation; ``.close()`` frees the model. Rows: dicts as in docs/data.md without the
    answer, or plain strings (the instruction, or the text)."""
    from verifily_core.bootstrap import ports_for_run
    from verifily_core.services.prediction.loading import load_run as load

    store, run_id, backend = ports_for_run(Path(run_path))
    return load(store, run_id, backend, device=device)
