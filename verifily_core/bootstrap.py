"""The composition root: the one place that picks adapters (by plugin name) for the use cases.

Use cases take ports as parameters and never build adapters themselves; the CLI and the Python
facade call these functions to get ports wired from the config (``backend``, ``store``,
``trackers`` and the trackers' own sections) or, for an existing run, from its ``training_info.json``.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any, Dict, List, Optional, Sequence, Tuple, Union

from verifily_core.config import TrainConfig
from verifily_core.domain.locations import remote_url, split_run_url
from verifily_core.domain.runs import RUN_META, TRAINING_INFO
from verifily_core.errors import RunNotFoundError, StoreError
from verifily_core.plugins.catalog import PluginInfo
from verifily_core.plugins.manager import registry
from verifily_core.plugins.settings import check_plugin_settings
from verifily_core.ports.artifact_store import ArtifactStore
from verifily_core.ports.billing_sink import BillingSink
from verifily_core.ports.model_backend import ModelBackend
from verifily_core.ports.study import StudyEngine
from verifily_core.ports.tracker import Tracker
from verifily_core.services.training.dependencies import TrainDependencies

DEFAULT_STORE = "local"
REMOTE_STORE = "fsspec"  # picked for URLs (s3://...) unless the config names another store
DEFAULT_BACKEND = "hf"
DEFAULT_STUDY_ENGINE = "optuna"


def plugins() -> Any:
    """The loaded plugin registry (entry points are read once per process)."""
    registry.load()
    return registry


def tracker_names(config: TrainConfig) -> List[str]:
    """The trackers listed in ``config.trackers``, then every installed tracker that ``config``
    switches on through its own section (``Tracker.enabled_by``, e.g. ``wandb.enabled``)."""
    names = list(dict.fromkeys(config.trackers))
    names += [
        cls.PLUGIN_NAME
        for cls in plugins().trackers()
        if cls.PLUGIN_NAME not in names and cls.enabled_by(config)
    ]
    return names


def build_training(config: TrainConfig) -> TrainDependencies:
    """Ports for training ``config``: its backend, its store at ``output.dir``, trackers, sinks."""
    from verifily_core.services.evaluation.evaluate import evaluate_run

    reg = plugins()
    backend = reg.model_backend(config.backend)()
    check_plugin_settings(config, reg)
    store = open_store(runs_location(config), config.store)
    trackers = trackers_named(tracker_names(config))
    return TrainDependencies(backend, store, trackers, reg.billing_sinks(), evaluate_run, signing_key())


def trackers_named(names: Sequence[str]) -> List[type[Tracker]]:
    """The tracker classes registered under ``names`` (UnknownPluginError names a missing one)."""
    reg = plugins()
    return [reg.tracker(name) for name in names]


def billing_sinks(run_dir: Optional[Path]) -> List[BillingSink]:
    """The billing sinks the environment asks for (``VERIFILY_BILLING_LOG``, a plugin's variables),
    opened as ``verifily train`` opens them for ``run_dir``."""
    from verifily_core.services.billing.tracker import open_sinks

    return open_sinks(plugins().billing_sinks(), run_dir)


def plugin_report() -> List[PluginInfo]:
    """One row per plugin found (the rows of ``verifily plugins``), load problems included."""
    return plugins().plugin_report()  # type: ignore[no-any-return]


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


def runs_location(config: TrainConfig) -> Union[str, Path]:
    """Where ``config``'s runs live: ``output.dir`` as a URL (an object store), else as a folder
    anchored at the config's own folder."""
    return remote_url(config.output.dir) or config.resolve_path(config.output.dir)


def open_store(location: Union[str, Path], store_name: str = DEFAULT_STORE) -> ArtifactStore:
    """The store of the runs folder at ``location``: a URL (``s3://bucket/prefix``, also in the
    one-slash form a ``Path`` leaves) opens the object store, unless ``store_name`` names another
    store than the default; a path opens ``store_name`` there."""
    url = remote_url(location)
    if url is not None:
        name = REMOTE_STORE if store_name == DEFAULT_STORE else store_name
        return plugins().artifact_store(name)(url)  # type: ignore[no-any-return]
    return plugins().artifact_store(store_name)(Path(location).expanduser())  # type: ignore[no-any-return]


def study_engine(name: str = DEFAULT_STUDY_ENGINE) -> StudyEngine:
    """The engine ``verifily tune`` keeps its studies in (``optuna``: the tune folder's SQLite
    database, or the ``--storage`` URL)."""
    return plugins().study_engine(name)()  # type: ignore[no-any-return]


def ports_for_baseline(config: TrainConfig, runs_dir: Path) -> Tuple[ArtifactStore, ModelBackend]:
    """The store (rooted at ``runs_dir``) and backend for a base-model baseline of ``config``."""
    reg = plugins()
    return open_store(runs_dir, config.store), reg.model_backend(config.backend)()


def open_run(run_path: Union[str, Path], store_name: str = DEFAULT_STORE) -> Tuple[ArtifactStore, str]:
    """The store holding a run folder given as a path or URL (``s3://bucket/runs/<id>``), and its id."""
    url = remote_url(run_path)
    if url is not None:
        runs_url, run_id = split_run_url(url)
        store = open_store(runs_url, store_name)
        if not store.exists(run_id, RUN_META) and not store.exists(run_id, TRAINING_INFO):
            raise RunNotFoundError(
                f"No run at {url} (no {RUN_META}).",
                hint="Pass the URL of a run, e.g. --run s3://bucket/runs/run_20260208_143022_a1b2c3",
            )
        return store, run_id
    path = Path(run_path).expanduser()
    if not path.is_dir():
        raise RunNotFoundError(
            f"Run folder not found: {run_path}",
            hint="Pass the path of a run folder, e.g. --run runs/run_20260208_143022_a1b2c3",
        )
    path = path.resolve()
    store = open_store(path.parent, store_name)
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
    from verifily_core.services.run_folder.frozen_config import frozen_config

    store, run_id = open_run(run_path)
    deps = build_training(frozen_config(store, run_id))
    deps.store = store
    return deps, run_id
