"""The Runs and Hard Examples tabs as plain data, read only through the ArtifactStore port.

Why pure and forgiving: the page must show every run folder, including ones a crash left half
written or a hand left broken; so a reader here never raises for a bad file, it turns the problem
into data (a ``corrupt`` or ``incomplete`` status and a note) that the page shows next to the run.
Only a run id that is not a run of the folder is an error (``RunNotFoundError``): ids are checked
against the store's own listing before any file is read, so no input can point outside the root.
"""

from __future__ import annotations

import math
from dataclasses import astuple, dataclass
from typing import Any, List, Literal, Mapping, Optional, Sequence, Tuple

from verifily_core.domain.metric_choice import default_metric
from verifily_core.domain.runs import (
    EVAL_DIR,
    EVAL_RESULTS,
    HARD_EXAMPLES,
    RUN_META,
    TRAIN_SUMMARY,
    eval_name_problem,
    is_dry_run_id,
)
from verifily_core.errors import RunNotFoundError, StoreError
from verifily_core.ports.artifact_store import ArtifactStore
from verifily_core.services.training.run_lock import run_status

CellType = Literal["str", "number"]
RUN_HEADERS = (
    "Run",
    "Status",
    "Task",
    "Model",
    "Train loss",
    "Eval metric",
    "Eval value",
    "Duration (s)",
    "Started",
    "Note",
)
RUN_TYPES: Tuple[CellType, ...] = (
    "str",
    "str",
    "str",
    "str",
    "number",
    "str",
    "number",
    "number",
    "str",
    "str",
)
HARD_HEADERS = ("Rank", "Score", "Tags", "Input", "Prediction", "Reference")
ALL_TAGS = "(all tags)"
CORRUPT = "corrupt"
INCOMPLETE = "incomplete"


@dataclass(frozen=True)
class RunRow:
    """One line of the Runs tab (None where a figure is unknown, so numeric columns sort)."""

    run_id: str
    status: str
    task: str
    model: str
    train_loss: Optional[float]
    eval_metric: str
    eval_value: Optional[float]
    duration_s: Optional[float]
    started: str
    note: str

    def cells(self) -> List[Any]:
        return [rounded(v) for v in astuple(self)]


def run_ids(store: ArtifactStore, *, dry_runs: bool = True) -> List[str]:
    """Every run of the folder, newest first (ids start with their creation time); without
    ``dry_runs`` the ``dryrun_`` folders are left out, as the listings show them by default."""
    ids = (loc.run_id for loc in store.list_runs())
    return sorted((i for i in ids if dry_runs or not is_dry_run_id(i)), reverse=True)


MAIN = "main"  # the run's own evaluation (eval/), as the dashboard's evaluation choices name it


def run_evaluations(store: ArtifactStore, run_id: str) -> List[str]:
    """Names of a run's evaluations on other data (``eval/<name>/eval_results.json``), sorted."""
    folder = store.local_dir(run_id) / EVAL_DIR
    if not folder.is_dir():
        return []
    return sorted(
        p.name
        for p in folder.iterdir()
        if p.is_dir()
        and not p.is_symlink()
        and eval_name_problem(p.name) is None
        and (p / "eval_results.json").is_file()
    )


def typed_run_id(value: Any) -> Any:
    """A run id as a user types or pastes it: spaces trimmed, and a pasted run folder path
    (``runs/run_x/``) reduced to its id; the result is still checked against the listing."""
    if not isinstance(value, str):
        return value
    text = value.strip().rstrip("/\\")
    return text.replace("\\", "/").rsplit("/", 1)[-1] if text else text


def checked_run_id(store: ArtifactStore, run_id: Any) -> str:
    """``run_id`` if it names a run of the folder; RunNotFoundError for anything else.

    The listing is the allow-list: ``../x``, absolute paths, URL-encoded forms and symlinks that
    leave the folder are not in it, and the store's ``location`` checks the path once more.
    """
    run_id = typed_run_id(run_id)
    if not isinstance(run_id, str) or run_id not in run_ids(store):
        raise RunNotFoundError(
            f"No run {str(run_id)[:80]!r} in this runs folder.",
            hint="Pick a run from the list (press Refresh to rescan the folder).",
        )
    store.location(run_id)
    return run_id


def read_optional(store: ArtifactStore, run_id: str, relpath: str, problems: List[str]) -> Any:
    """A run file's JSON, or None when it is absent; a broken file adds a note to ``problems``."""
    if not store.exists(run_id, relpath):
        return None
    try:
        return store.read_json(run_id, relpath)
    except StoreError:
        problems.append(f"{relpath} is not valid JSON (half-written or edited by hand)")
        return None


def run_rows(store: ArtifactStore, *, dry_runs: bool = False) -> List[RunRow]:
    """The Runs tab: one row per run folder, newest first; broken folders included, marked; dry
    runs only when asked (they trained nothing)."""
    ids = run_ids(store, dry_runs=dry_runs)
    store.prefetch(ids, (RUN_META, TRAIN_SUMMARY, EVAL_RESULTS))  # one go for a bucket, not 3 reads a run
    return [run_row(store, run_id) for run_id in ids]


def run_row(store: ArtifactStore, run_id: str) -> RunRow:
    problems: List[str] = []
    meta = read_optional(store, run_id, RUN_META, problems)
    if not isinstance(meta, Mapping):
        note = problems[0] if problems else f"{RUN_META} is not a JSON object"
        return RunRow(run_id, CORRUPT, "", "", None, "", None, None, "", note)
    status = run_status(store, run_id, str(meta.get("status") or INCOMPLETE))
    missing = [k for k in ("status", "task", "base_model") if not meta.get(k)]
    if missing:
        problems.append(f"{RUN_META} lacks {', '.join(missing)}")
        status = INCOMPLETE
    elif status == "completed" and not store.exists(run_id, TRAIN_SUMMARY):
        problems.append(f"completed, but {TRAIN_SUMMARY} is missing")
        status = INCOMPLETE
    task = str(meta.get("task") or "")
    metrics = as_mapping(meta.get("metrics"))
    overall = _eval_overall(store, run_id, metrics, problems)
    metric = main_metric(task, overall)
    if status == "failed" and meta.get("error"):
        problems.append(str(meta["error"]).splitlines()[0])
    return RunRow(
        run_id,
        status,
        task,
        str(meta.get("base_model") or ""),
        number(metrics.get("train_loss")),
        metric or "",
        number(overall.get(metric)) if metric else None,
        number(meta.get("duration_seconds")),
        str(meta.get("started_at") or ""),
        "; ".join(problems),
    )


def _eval_overall(
    store: ArtifactStore, run_id: str, metrics: Mapping[str, Any], problems: List[str]
) -> Mapping[str, Any]:
    """``eval_results.json`` overall (the latest evaluation), else what ``run_meta.json`` recorded."""
    overall = as_mapping(read_optional(store, run_id, EVAL_RESULTS, problems)).get("overall")
    return overall if isinstance(overall, Mapping) else as_mapping(metrics.get("eval"))


def main_metric(task: str, overall: Mapping[str, Any]) -> Optional[str]:
    """The task's headline metric (``f1`` / ``macro_f1``) when present, else the first number."""
    preferred = default_metric(task)
    if number(overall.get(preferred)) is not None:
        return preferred
    return next((k for k, v in overall.items() if number(v) is not None), None)


def as_mapping(value: Any) -> Mapping[str, Any]:
    """``value`` if it is a JSON object, else an empty one: files are read, never trusted."""
    return value if isinstance(value, Mapping) else {}


def rounded(value: Any, digits: int = 4) -> Any:
    """Floats to ``digits`` decimals for a table cell (the files keep full precision)."""
    return round(value, digits) if isinstance(value, float) else value


def number(value: Any) -> Optional[float]:
    """A finite float, or None for anything else (text, booleans, NaN, missing)."""
    if isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value):
        return float(value)
    return None


# ---------------------------------------------------------------------- hard examples


def hard_examples(store: ArtifactStore, run_id: str) -> List[Mapping[str, Any]]:
    """The run's worst predictions (``eval/hard_examples.jsonl``, else ``eval_results.json``)."""
    run_id = checked_run_id(store, run_id)
    if store.exists(run_id, HARD_EXAMPLES):
        try:
            return [r for r in store.iter_jsonl(run_id, HARD_EXAMPLES) if isinstance(r, Mapping)]
        except StoreError:
            pass  # a damaged JSONL file: the copy inside eval_results.json may still be whole
    rows = as_mapping(read_optional(store, run_id, EVAL_RESULTS, [])).get("hard_examples")
    return [r for r in rows if isinstance(r, Mapping)] if isinstance(rows, list) else []


def tag_choices(rows: Sequence[Mapping[str, Any]]) -> List[str]:
    """``key=value`` for every tag the rows carry, sorted, after the no-filter choice."""
    seen = {f"{k}={v}" for r in rows for k, v in _tags(r).items()}
    return [ALL_TAGS, *sorted(seen)]


def filter_by_tag(rows: Sequence[Mapping[str, Any]], choice: Optional[str]) -> List[Mapping[str, Any]]:
    if not choice or choice == ALL_TAGS:
        return list(rows)
    return [r for r in rows if choice in {f"{k}={v}" for k, v in _tags(r).items()}]


def hard_cells(row: Mapping[str, Any]) -> List[Any]:
    """A hard example as table cells; the score is F1 (SFT) or the true label's probability."""
    score = number(row.get("f1", row.get("true_label_probability")))
    tags = ", ".join(f"{k}={v}" for k, v in _tags(row).items())
    texts = [str(row.get(k) or "") for k in ("input", "prediction", "reference")]
    return [row.get("rank"), rounded(score), tags, *texts]


def _tags(row: Mapping[str, Any]) -> Mapping[str, Any]:
    tags = row.get("tags")
    return tags if isinstance(tags, Mapping) else {}
