"""The compare use case: read evaluated run folders through the ArtifactStore port and compare them.

Why a store factory rather than a store: the runs named on one command line may live under
different roots (``runs/a,other_runs/b``, a bucket's ``s3://...`` beside a folder), so the service
opens one store per parent. The facade and the CLI pass ``bootstrap.open_store`` (a folder or a URL
picks its store there); the core never picks an adapter itself.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Dict, List, Mapping, Optional, Sequence, Union

import yaml

from verifily_core.config import flatten
from verifily_core.config.yaml_load import safe_load
from verifily_core.domain.compare import (
    CompareResult,
    RunView,
    build_comparison,
    check_runs,
    metric_value,
    parse_slice_by,
)
from verifily_core.domain.compare_slices import slice_from_predictions
from verifily_core.domain.metric_choice import default_metric, resolve_metric
from verifily_core.domain.runs import (
    CONFIG_FILE,
    RUN_META,
    TRACKING,
    TRAINING_INFO,
    EvalFiles,
    eval_name_problem,
)
from verifily_core.domain.significance import DEFAULT_MIN_SLICE_N, bootstrap_significance
from verifily_core.domain.tracking import TrackingLink, tracking_links
from verifily_core.errors import CompareError, RunNotFoundError, StoreError
from verifily_core.ports.artifact_store import ArtifactStore, RunLocation, StoreFactory

PathLike = Union[str, Path]


@dataclass
class _OpenRun:
    """A located run: its store, location and the name it is shown under."""

    store: ArtifactStore
    location: RunLocation
    name: str
    _rows: Optional[List[Mapping[str, Any]]] = field(default=None, repr=False)
    files: EvalFiles = field(default_factory=EvalFiles)  # which evaluation of the run is compared

    @property
    def shown_path(self) -> str:
        """How the user names the run (its folder, or its URL for a run in a bucket)."""
        return self.store.address(self.location.run_id)

    def predictions(self) -> Optional[List[Mapping[str, Any]]]:
        """The rows of the evaluation's ``predictions.jsonl`` (read once), or None when it has none."""
        if self._rows is None and self.store.exists(self.location.run_id, self.files.predictions):
            self._rows = list(self.store.iter_jsonl(self.location.run_id, self.files.predictions))
        return self._rows


def compare(
    run_paths: Sequence[PathLike],
    metric: Optional[str] = None,
    slice_by: Union[str, Sequence[str], None] = None,
    runs_dir: Optional[PathLike] = None,
    *,
    store_factory: StoreFactory,
    bootstrap: Optional[int] = None,
    seed: int = 0,
    min_slice_n: int = DEFAULT_MIN_SLICE_N,
    evaluation: Optional[str] = None,
) -> CompareResult:
    """Compare ``metric`` across evaluated runs; the first run is the baseline of every delta.

    ``run_paths`` holds run folders, or run ids looked up in ``runs_dir``. ``metric`` defaults to
    ``f1`` for SFT and ``macro_f1`` for classification. Slices missing from a run's
    ``eval_results.json`` are recomputed from its ``eval/predictions.jsonl`` when it has one.
    ``bootstrap=N`` adds 95% intervals of every delta from N resamples of the predictions
    (``result.significance``, see ``domain.significance``); slices under ``min_slice_n`` are flagged.
    ``evaluation`` picks a named evaluation of every run (``eval/<name>/``, from ``eval-cmd
    --test-data other.jsonl``) instead of the main one (``eval/``).
    """
    if len(run_paths) < 2:
        shown = ", ".join(str(p) for p in run_paths) or "none"
        raise CompareError(
            f"A comparison needs at least two runs, got {len(run_paths)} ({shown}).",
            hint="Pass two or more runs: --runs runs/run_A,runs/run_B",
        )
    files = _evaluation(evaluation)
    opened = open_runs(run_paths, runs_dir, store_factory)
    for run in opened:
        run.files = files
    for store in {id(run.store): run.store for run in opened}.values():  # a bucket: one go, not 4 reads a run
        ids = [run.location.run_id for run in opened if run.store is store]
        store.prefetch(ids, (files.results, CONFIG_FILE, RUN_META, TRACKING))
    views = [_read_view(run) for run in opened]
    check_runs(views)
    metric = metric or default_metric(views[0].task)
    metric, alias_note = resolve_metric(views[0].task, metric)
    for view in views:
        metric_value(view, metric)  # a metric error comes before any slice recomputation
    keys = parse_slice_by(slice_by)
    notes: List[str] = [alias_note] if alias_note else []
    views = [_with_recomputed_slices(run, view, keys, metric, notes) for run, view in zip(opened, views)]
    result = build_comparison(views, metric, keys)
    result.evaluation = files.name or "main"
    result.notes.extend(notes)
    if bootstrap is not None:
        if bootstrap < 1:
            raise CompareError(
                f"--bootstrap must be a positive number of resamples, got {bootstrap}.",
                hint="Use --bootstrap 1000 (the default), or --bootstrap 0 for no intervals.",
            )
        rows = {run.name: run.predictions() for run in opened}
        result.significance = bootstrap_significance(
            result, rows, n_boot=bootstrap, seed=seed, min_slice_n=min_slice_n
        )
    return result


def open_runs(
    run_paths: Sequence[PathLike], runs_dir: Optional[PathLike], store_factory: StoreFactory
) -> List[_OpenRun]:
    """Locate every run (a folder path, else an id in ``runs_dir``) and give each a unique name."""
    stores: Dict[Path, ArtifactStore] = {}

    def store_for(root: Path) -> ArtifactStore:
        if root not in stores:
            stores[root] = store_factory(root)
        return stores[root]

    located = [_locate(entry, runs_dir, store_for) for entry in run_paths]
    ids = [loc.run_id for _store, loc in located]
    runs = []
    for store, loc in located:
        clash = ids.count(loc.run_id) > 1
        name = f"{loc.path.parent.name}/{loc.run_id}" if clash else loc.run_id
        runs.append(_OpenRun(store, loc, name))
    return runs


def _locate(
    entry: PathLike, runs_dir: Optional[PathLike], store_for: Callable[[Path], ArtifactStore]
) -> tuple[ArtifactStore, RunLocation]:
    path = Path(entry).expanduser()
    try:
        store = store_for(path.parent)
        return store, store.location(path.name)
    except RunNotFoundError:
        pass
    if runs_dir is not None and len(path.parts) == 1:
        store = store_for(Path(runs_dir).expanduser())
        try:
            return store, store.location(path.name)
        except RunNotFoundError:
            raise RunNotFoundError(
                f"No run folder {entry}, and no run id {path.name!r} in {runs_dir}.",
                hint=f"Pass a run folder path, or one of the run ids in {runs_dir}.",
            ) from None
    raise RunNotFoundError(
        f"No run folder {entry}.",
        hint="Pass run folder paths (runs/run_A,runs/run_B), or run ids together with --runs-dir.",
    )


def _evaluation(name: Optional[str]) -> EvalFiles:
    if name is None or name == "main":
        return EvalFiles()
    problem = eval_name_problem(name)
    if problem:
        raise CompareError(f"Evaluation name {name!r}: {problem}.")
    return EvalFiles(name)


def _read_view(run: _OpenRun) -> RunView:
    store, run_id, results_file = run.store, run.location.run_id, run.files.results
    if not store.exists(run_id, results_file):
        if run.files.name is None:
            raise CompareError(
                f"Run {run.name} ({run.shown_path}) has no {results_file}: it has not been evaluated.",
                hint=f"Evaluate it first: verifily eval-cmd --run {run.shown_path}",
            )
        raise CompareError(
            f"Run {run.name} ({run.shown_path}) has no evaluation {run.files.name!r} ({results_file}).",
            hint=f"Evaluate it: verifily eval-cmd --run {run.shown_path} --test-data FILE "
            f"--name {run.files.name}",
        )
    results = store.read_json(run_id, results_file)
    if not isinstance(results, dict):
        raise CompareError(
            f"{run.shown_path}/{results_file}: expected a JSON object, got {type(results).__name__}."
        )
    config = _read_config(run)
    return RunView(run.name, _task(run, config), results, config, run.shown_path, _tracking(run))


def _tracking(run: _OpenRun) -> List[TrackingLink]:
    """Where the run was tracked; an unreadable ``tracking.json`` only loses the links."""
    try:
        return tracking_links(run.store.read_json(run.location.run_id, TRACKING))
    except StoreError:
        return []


def _read_config(run: _OpenRun) -> Optional[Dict[str, Any]]:
    if not run.store.exists(run.location.run_id, CONFIG_FILE):
        return None
    text = run.store.read_text(run.location.run_id, CONFIG_FILE)
    try:
        data = safe_load(text)
    except yaml.YAMLError as exc:
        raise CompareError(f"{run.shown_path}/{CONFIG_FILE}: not valid YAML ({exc}).") from None
    return flatten(data) if isinstance(data, Mapping) else None


def _task(run: _OpenRun, config: Optional[Mapping[str, Any]]) -> str:
    """The task from ``run_meta.json``, else ``training_info.json``, else the frozen config."""
    for relpath in (RUN_META, TRAINING_INFO):
        if run.store.exists(run.location.run_id, relpath):
            try:
                data = run.store.read_json(run.location.run_id, relpath)
            except StoreError:
                continue  # a half-written file: readers tolerate it and look further
            if isinstance(data, Mapping) and isinstance(data.get("task"), str):
                return str(data["task"])
    if config is not None and isinstance(config.get("task"), str):
        return str(config["task"])
    raise CompareError(
        f"Cannot tell the task of run {run.name}: "
        f"no 'task' in its {RUN_META}, {TRAINING_INFO} or {CONFIG_FILE}.",
        hint="Is this a Verifily run folder?",
    )


def _with_recomputed_slices(
    run: _OpenRun, view: RunView, keys: Sequence[str], metric: str, notes: List[str]
) -> RunView:
    slices = view.eval_results.get("slices")
    present = slices if isinstance(slices, Mapping) else {}
    missing = [k for k in keys if not isinstance(present.get(k), Mapping)]
    rows = run.predictions() if missing else None
    if rows is None:
        return view  # build_comparison names a key that is still missing
    added = {
        k: slice_from_predictions(rows, k, metric, task=view.task, run=run.name, path=run.shown_path)
        for k in missing
    }
    notes.append(f"Slices by {', '.join(missing)} of {run.name} recomputed from {run.files.predictions}.")
    results = {**view.eval_results, "slices": {**present, **added}}
    return RunView(view.name, view.task, results, view.config, view.path)
