"""What ``verifily tune`` does once its flags are parsed: the space, the search, progress, the report.

Progress (a trials bar, a step bar for the running trial, one line per finished trial) goes to
stderr; the trials table and the guide's ``Best trial:`` block go to stdout.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any, Dict, List, Mapping, Optional

from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from verifily_cli.options import refuse_flags_on_resume
from verifily_cli.render import err, fmt_metric, out, relative
from verifily_cli.study_folders import open_study_folder

if TYPE_CHECKING:
    from verifily_core.domain.tuning import TrialRecord, TuneReport, TuneSettings
    from verifily_core.services.tuning.tune import TuneCallbacks

DEFAULTS = {"strategy": "grid", "metric": "eval_loss", "direction": "minimize"}


def run_tune(
    *,
    config: Optional[Path],
    params: list[str],
    strategy: str,
    max_trials: Optional[int],
    metric: str,
    direction: str,
    storage: Optional[str],
    resume: Optional[Path],
) -> None:
    from verifily_core.bootstrap import build_training, study_engine
    from verifily_core.errors import TuneError
    from verifily_core.services.tuning import tune as use_case

    with _TuneProgress() as progress:
        try:
            if resume is not None:
                _check_resume_flags(config, params, strategy, max_trials, metric, direction, storage)
                store, tune_id = open_study_folder(resume, TuneError, "tune")
                report = use_case.resume(
                    tune_id,
                    store=store,
                    deps_factory=build_training,
                    engine=study_engine(),
                    callbacks=progress.callbacks(),
                )
            else:
                report = _start(
                    config,
                    params,
                    use_case.TuneSettings(strategy, metric, direction, max_trials, storage),
                    progress,
                )
        except KeyboardInterrupt:
            if progress.tune_dir:
                err.print(f"Resume with: verifily tune --resume {relative(progress.tune_dir)}", markup=False)
            raise
    print_report(report)


def _start(
    config: Optional[Path], params: List[str], settings: TuneSettings, progress: _TuneProgress
) -> TuneReport:
    from verifily_core.bootstrap import build_training, open_store, runs_location, study_engine
    from verifily_core.config import TrainConfig
    from verifily_core.domain.search import space_from_specs
    from verifily_core.errors import TuneError
    from verifily_core.services.tuning.tune import tune

    if config is None:
        raise TuneError(
            "verifily tune needs --config (or --resume runs/tune_<id> to continue a search).",
            hint='Example: verifily tune --config train.yaml --param "lora.r=8,16"',
        )
    cfg = TrainConfig.from_yaml(config)
    space = space_from_specs(params, cfg)
    return tune(
        cfg,
        space,
        settings,
        store=open_store(runs_location(cfg), cfg.store),
        deps_factory=build_training,
        engine=study_engine(),
        callbacks=progress.callbacks(),
        config_path=config,
    )


def _check_resume_flags(
    config: Optional[Path],
    params: List[str],
    strategy: str,
    max_trials: Optional[int],
    metric: str,
    direction: str,
    storage: Optional[str],
) -> None:
    from verifily_core.errors import TuneError

    refuse_flags_on_resume(
        {
            "--config": config,
            "--param": params or None,
            "--max-trials": max_trials,
            "--storage": storage,
            "--strategy": strategy,
            "--metric": metric,
            "--direction": direction,
        },
        TuneError,
        defaults={f"--{name}": value for name, value in DEFAULTS.items()},
        resumed="the search saved in the tune folder",
        hint="The config, space, strategy, metric and storage come from its tune_spec.json.",
    )


def _params_text(params: Dict[str, Any]) -> str:
    return ", ".join(f"{k}={v!r}" for k, v in params.items())


class _TuneProgress:
    """Two bars on stderr: trials done (of the budget) and the running trial's training steps."""

    def __init__(self) -> None:
        self.bar = Progress(
            TextColumn("[bold]{task.description}"),
            BarColumn(),
            MofNCompleteColumn(),
            TextColumn("{task.fields[info]}", markup=False),
            TimeElapsedColumn(),
            console=err,
            transient=True,
        )
        self.trials = self.bar.add_task("Trials", total=None, info="", visible=False)
        self.steps = self.bar.add_task("Training", total=None, info="", visible=False)
        self.tune_dir: Optional[str] = None
        self.metric = "score"

    def __enter__(self) -> _TuneProgress:
        self.bar.__enter__()
        return self

    def __exit__(self, *exc: Any) -> None:
        self.bar.__exit__(*exc)

    def callbacks(self) -> TuneCallbacks:
        from verifily_core.domain.training import TrainCallbacks
        from verifily_core.services.tuning.tune import TuneCallbacks

        train = TrainCallbacks(
            on_start=lambda total: self.bar.update(self.steps, total=total, completed=0),
            on_step=lambda step, total: self.bar.update(self.steps, completed=step, total=total),
            on_log=self._log,
        )
        return TuneCallbacks(
            on_begin=self._begin, on_trial_start=self._trial_start, on_trial_end=self._trial_end, train=train
        )

    def _begin(self, report: TuneReport) -> None:
        self.tune_dir, self.metric = report.tune_dir, report.spec.metric
        done = report.count("completed") + report.count("failed")
        spec = report.spec
        err.print(
            f"Tune folder: {relative(report.tune_dir)}  ({spec.strategy}, {spec.n_trials} trial(s) of "
            f"{spec.space.size} combination(s), {spec.direction} {spec.metric})",
            markup=False,
        )
        if done:
            err.print(f"{done} trial(s) already finished; continuing.", markup=False)
        self.bar.update(self.trials, total=spec.n_trials, completed=done, visible=True)

    def _trial_start(self, number: int, params: Dict[str, Any]) -> None:
        self.bar.update(
            self.steps,
            description=f"Trial {number}",
            total=None,
            completed=0,
            info=_params_text(params),
            visible=True,
        )

    def _log(self, step: int, metrics: Mapping[str, float]) -> None:
        shown = {k: v for k, v in metrics.items() if k in ("loss", "eval_loss")}
        if shown:
            self.bar.update(self.steps, info=", ".join(f"{k}={fmt_metric(v)}" for k, v in shown.items()))

    def _trial_end(self, record: TrialRecord) -> None:
        self.bar.update(self.steps, visible=False)
        self.bar.advance(self.trials)
        outcome = (
            f"{self.metric}={record.score:.6f}"
            if record.status == "completed"
            else f"{record.status.upper()}: {record.error}"
        )
        err.print(f"Trial {record.number} [{_params_text(record.params)}]: {outcome}", markup=False)


def print_report(report: TuneReport) -> None:
    """The trials table, then the guide's ``Best trial:`` block."""
    spec, best = report.spec, report.best
    rows = []
    for t in report.trials:
        score = f"{t.score:.6f}" if t.score is not None else ""
        mark = " *" if best is not None and t.number == best.number else ""
        rows.append(
            [
                t.number,
                *(repr(t.params.get(k, "")) for k in spec.space.keys),
                score + mark,
                t.status,
                t.run_id or "",
            ]
        )
    grid = Table(title=f"Trials ({spec.strategy}, {spec.direction} {spec.metric})", header_style="bold")
    for column in ["Trial", *spec.space.keys, spec.metric, "Status", "Run"]:
        grid.add_column(column, overflow="fold")
    for row in rows:
        grid.add_row(*(str(v) for v in row))
    out.print(grid)
    running = report.count("running") + report.count("queued")
    if best is None:
        out.print(f"No trial completed yet; {running} trial(s) still running in other workers.", markup=False)
        return
    out.print(f"Best trial: {best.run_id}", markup=False)
    out.print(f"  {spec.metric}: {best.score:.6f}", markup=False)
    out.print(f"  Params: {best.params!r}", markup=False)
    out.print(f"  Artifacts: {relative(best.run_path) if best.run_path else '-'}", markup=False)
    if running:
        out.print(
            f"\n{running} trial(s) still running or queued in other workers; the best may change.",
            markup=False,
        )
    failed = report.count("failed")
    if failed:
        err.print(
            f"{failed} trial(s) failed; their errors are in {relative(report.tune_dir)}/tune_results.json",
            markup=False,
        )
