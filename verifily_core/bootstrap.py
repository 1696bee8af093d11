"""The composition root: the one place that picks adapters (by plugin name) for the use cases.

Use cases take ports as parameters and never build adapters themselves; the CLI and the Python
facade call these functions to get ports wired from the config (``backend``, ``store``,
``trackers``, ``wandb.enabled``) or, for an existing run, from its ``training_info.json``.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any, Dict, List, Optional, Tuple

from verifily_core.config import TrainConfig
from verifily_core.domain.runs import RUN_META, TRAINING_INFO
from verifily_core.errors import RunNotFoundError, StoreError
from verifily_core.plugins.manager import registry
from verifily_core.ports.artifact_store import ArtifactStore
from verifily_core.ports.model_backend import ModelBackend
from verifily_core.services.train import TrainDependencies

DEFAULT_STORE = "local"
DEFAULT_BACKEND = "hf"


def plugins() -> Any:
    """The loaded plugin registry (entry points are read once per process)."""
    registry.load()
    return registry


def tracker_names(config: TrainConfig) -> List[str]:
    names = list(dict.fromkeys(config.trackers))
    if config.wandb.enabled and "wandb" not in names:
        names.append("wandb")
    return names


def build_training(config: TrainConfig) -> TrainDependencies:
    """Ports for training ``config``: its backend, its store at ``output.dir``, trackers, sinks."""
    from verifily_core.services.evaluate import evaluate_run

    reg = plugins()
    backend = reg.model_backend(config.backend)()
    store = reg.artifact_store(config.store)(config.resolve_path(config.output.dir))
    trackers = [reg.tracker(name) for name in tracker_names(config)]
    return TrainDependencies(backend, store, trackers, reg.billing_sinks(), evaluate_run, signing_key())


def signing_key() -> Optional[Path]:
    """The Ed25519 private key named by ``VERIFILY_SIGNING_KEY``, checked now (not after training);
    None when unset. Runs trained or re-evaluated with it set are signed."""
    from verifily_core.domain.provenance import KEY_ENV, check_private_key

    value = os.environ.get(KEY_ENV, "").strip()
    if not value:
        return None
    path = Path(value).expanduser()
    check_private_key(path)
    return path


def ports_for_baseline(config: TrainConfig, runs_dir: Path) -> Tuple[ArtifactStore, ModelBackend]:
    """The store (rooted at ``runs_dir``) and backend for a base-model baseline of ``config``."""
    reg = plugins()
    return reg.artifact_store(config.store)(Path(runs_dir)), reg.model_backend(config.backend)()


def open_run(run_path: Path, store_name: str = DEFAULT_STORE) -> Tuple[ArtifactStore, str]:
    """The store holding a run folder given as a path, and the run's id."""
    path = Path(run_path).expanduser()
    if not path.is_dir():
        raise RunNotFoundError(
            f"Run folder not found: {run_path}",
            hint="Pass the path of a run folder, e.g. --run runs/run_20260208_143022_a1b2c3",
        )
    path = path.resolve()
    store: ArtifactStore = plugins().artifact_store(store_name)(path.parent)
    if not store.exists(path.name, RUN_META) and not store.exists(path.name, TRAINING_INFO):
        raise RunNotFoundError(
            f"{run_path} is not a run folder (no {RUN_META}).",
            hint="Pass a folder created by `verifily train`.",
        )
    return store, path.name


def _training_info(store: ArtifactStore, run_id: str) -> Dict[str, Any]:
    try:
        return dict(store.read_json(run_id, TRAINING_INFO))
    except StoreError:
        raise StoreError(
            f"training_info.json not found or unreadable in run {run_id}.",
            hint="The run may have been interrupted before saving it; check `status` in run_meta.json.",
        ) from None


def backend_for_run(store: ArtifactStore, run_id: str) -> ModelBackend:
    info = _training_info(store, run_id)
    return plugins().model_backend(info.get("backend") or DEFAULT_BACKEND)()  # type: ignore[no-any-return]


def ports_for_run(run_path: Path) -> Tuple[ArtifactStore, str, ModelBackend]:
    """The store, id and backend of an existing run folder (for eval, verify and the demo)."""
    store, run_id = open_run(run_path)
    return store, run_id, backend_for_run(store, run_id)


def training_for_run(run_path: Path) -> Tuple[TrainDependencies, str]:
    """Ports to resume a run in its own folder (config read from the run's frozen config.yaml)."""
    from verifily_core.services.run_config import frozen_config

    store, run_id = open_run(run_path)
    deps = build_training(frozen_config(store, run_id))
    deps.store = store
    return deps, run_id
