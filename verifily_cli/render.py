"""Terminal output: one console for results (stdout) and one for progress and messages (stderr).

Results go to stdout so that ``--json`` output and the guide's report blocks can be piped; bars,
notices and errors go to stderr where they never corrupt what a script reads.
"""

from __future__ import annotations

import json
import os
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any, Iterator, Mapping, Optional

from rich.console import Console
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    TaskID,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)
from rich.table import Table

if TYPE_CHECKING:
    from verifily_core.domain.evaluation import EvalResult

PIPED_WIDTH = 1000  # "unlimited": a table's natural width is what counts


def console(*, stderr: bool = False) -> Console:
    """A console that never wraps what it prints into a log: when the stream is not a terminal and
    ``COLUMNS`` is unset (CI, ``| tee``, ``> file``), rich would assume 80 columns and break run ids
    and headers over several lines; tables are drawn at their natural width instead."""
    made = Console(stderr=stderr, highlight=False, soft_wrap=True)
    if not made.is_terminal and not os.environ.get("COLUMNS"):
        made.width = PIPED_WIDTH
    return made


out = console()
err = console(stderr=True)


def print_json(data: Any) -> None:
    out.print(json.dumps(data, indent=2, default=str), markup=False)


def table(title: Optional[str], columns: list[str], rows: list[list[Any]]) -> Table:
    t = Table(title=title, show_lines=False, header_style="bold")
    for c in columns:
        t.add_column(c)
    for r in rows:
        t.add_row(*[("" if v is None else str(v)) for v in r])
    return t


def fmt_metric(value: Any) -> str:
    return f"{value:.4f}" if isinstance(value, float) else str(value)


def plural(count: int, noun: str) -> str:
    """``1 hard example``, ``3 hard examples``: counts the user reads."""
    return f"{count} {noun}" if count == 1 else f"{count} {noun}s"


def metrics_line(metrics: Mapping[str, Any]) -> str:
    return ", ".join(f"{k}={fmt_metric(v)}" for k, v in metrics.items() if isinstance(v, (int, float)))


def relative(path: str) -> str:
    """A path as the user would type it: relative to the current folder when below it; a URL
    (``s3://bucket/runs/<id>``) as it is."""
    from verifily_core.domain.locations import remote_url

    if remote_url(path) is not None:
        return path
    try:
        rel = os.path.relpath(path)
    except ValueError:
        return path
    return path if rel.startswith("..") else rel


@contextmanager
def progress(description: str, *, enabled: bool = True) -> Iterator[StepProgress]:
    bar = Progress(
        TextColumn("[bold]{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TextColumn("{task.fields[info]}"),
        TimeElapsedColumn(),
        TimeRemainingColumn(),
        console=err,
        transient=False,
        disable=not enabled,
    )
    steps = StepProgress(bar, description)
    try:
        yield steps
    finally:
        if steps.used:
            bar.stop()


class StepProgress:
    """Adapts the core's step callbacks to a rich bar (total known only once training starts).

    The bar starts at the first reported step, not before: work that fails early or needs no
    steps (an input error, reused predictions) leaves no stray ``0/?`` bar, not even a blank line.
    """

    def __init__(self, bar: Progress, description: str) -> None:
        self._bar = bar
        self._description = description
        self._task: Optional[TaskID] = None

    @property
    def used(self) -> bool:
        """Whether any step was reported (so the bar has something to show)."""
        return self._task is not None

    def _shown(self) -> TaskID:
        if self._task is None:
            self._bar.start()
            self._task = self._bar.add_task(self._description, total=None, info="")
        return self._task

    def start(self, total: int) -> None:
        self._bar.update(self._shown(), total=total)

    def step(self, step: int, total: int) -> None:
        self._bar.update(self._shown(), completed=step, total=total)

    def log(self, step: int, metrics: Mapping[str, float]) -> None:
        shown = {k: v for k, v in metrics.items() if k in ("loss", "eval_loss", "learning_rate")}
        if shown:
            self._bar.update(self._shown(), info=metrics_line(shown))


def print_slices(result: EvalResult, *, title: Optional[str] = None) -> None:
    """The guide's ``Sliced by [key]:`` block for an evaluation result."""
    from verifily_core.services.evaluation.evaluate import render_slices

    if title:
        out.print(title, markup=False)
    for line in render_slices(result):
        out.print(line, markup=False)
