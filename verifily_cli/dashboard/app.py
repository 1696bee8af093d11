"""The dashboard page: ``build_app(runs_dir)`` returns the Gradio Blocks with the four tabs.

The page only lays out what ``data``, ``detail``, ``comparison`` and ``plots`` compute. Every
handler turns a failure into a message on the page (never a broken page), and every run id that
comes from the browser or the API is checked against the folder's runs before anything is read.
No file of a run folder is ever handed to Gradio as a file: tables are values, charts inline PNGs.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any, Dict, List, Mapping, Optional, Sequence, Tuple, Union

import gradio as gr

from verifily_cli.dashboard import comparison, data, plots
from verifily_cli.dashboard.detail import EnvironmentFor, RunDetail, run_detail, verify_view
from verifily_core.bootstrap import open_store
from verifily_core.domain.compare_format import format_comparison
from verifily_core.domain.tracking import TrackingLink
from verifily_core.errors import VerifilyError
from verifily_core.ports.artifact_store import ArtifactStore

log = logging.getLogger("verifily.dashboard")

TITLE = "Verifily Train dashboard"
Table = Dict[str, Any]


def table(headers: Sequence[str], rows: Sequence[Sequence[Any]]) -> Table:
    """A Dataframe value; an empty table keeps its headers."""
    return {"headers": list(headers), "data": [list(r) for r in rows] or [[None] * len(headers)]}


def pairs_table(pairs: Sequence[Tuple[str, str]], key: str = "Field") -> Table:
    return table((key, "Value"), pairs)


def failure(exc: BaseException) -> str:
    """A handler's failure as a line on the page: a user error as written, a bug named as one."""
    if isinstance(exc, VerifilyError):
        return f"**Error:** {exc.message}" + (f"  \n{exc.hint}" if exc.hint else "")
    log.exception("dashboard handler failed")
    return f"**Internal error:** {type(exc).__name__}: {exc}"


def default_environment(store: ArtifactStore, run_id: str) -> Mapping[str, str]:
    """The environment the run's own backend reports now (the hf backend imports no torch for it)."""
    from verifily_core.bootstrap import backend_for_run

    return backend_for_run(store, run_id).environment()


# ---------------------------------------------------------------------- handlers (no Gradio layout)


class Handlers:
    """What each control of the page does, over one store."""

    def __init__(self, store: ArtifactStore, environment_for: EnvironmentFor) -> None:
        self.store = store
        self.environment_for = environment_for

    def refresh(self, dry_runs: bool = False) -> Tuple[Any, ...]:
        rows = data.run_rows(self.store, dry_runs=dry_runs)
        ids = [r.run_id for r in rows]
        root = getattr(self.store, "url", self.store.root)
        hidden = len(data.run_ids(self.store)) - len(rows)
        shown = f"{len(rows)} run(s) in `{root}`" if rows else f"No runs in `{root}` yet."
        if hidden:
            shown += f" ({hidden} dry run(s) hidden)"
        pick = gr.Dropdown(choices=ids)
        return (
            table(data.RUN_HEADERS, [r.cells() for r in rows]),
            shown,
            pick,
            pick,
            gr.Dropdown(choices=ids),
        )

    def detail(self, run_id: Optional[str]) -> Tuple[Any, ...]:
        if not run_id:
            return _empty_detail("Pick a run.")
        try:
            d = run_detail(self.store, run_id)
        except Exception as exc:  # noqa: BLE001 - shown on the page
            return _empty_detail(failure(exc))
        metrics = [(k, data.rounded(v)) for k, v in d.eval_overall.items()]
        return (
            _detail_status(d),
            pairs_table(d.meta),
            pairs_table(d.training, "Figure"),
            plots.loss_figure(d.loss),
            table(("Metric", "Value"), metrics),
            _slices_table(d),
            plots.slices_figure(d.slices, d.main_metric),
            pairs_table(d.hashes, "Hash"),
            pairs_table(d.usage, "Usage"),
        )

    def verify(self, run_id: Optional[str]) -> str:
        if not run_id:
            return ""
        try:
            view = verify_view(self.store, run_id, self.environment_for)
        except Exception as exc:  # noqa: BLE001 - shown on the page
            return failure(exc)
        report = "\n".join(view.lines)
        return f"**Live verify: {view.verdict}**\n\n```\n{report}\n```"

    def hard(self, run_id: Optional[str], tag: Optional[str]) -> Tuple[Any, Any, str]:
        if not run_id:
            return table(data.HARD_HEADERS, []), gr.Dropdown(choices=[data.ALL_TAGS]), "Pick a run."
        try:
            rows = data.hard_examples(self.store, run_id)
        except Exception as exc:  # noqa: BLE001 - shown on the page
            return table(data.HARD_HEADERS, []), gr.Dropdown(choices=[data.ALL_TAGS]), failure(exc)
        choices = data.tag_choices(rows)
        tag = tag if tag in choices else data.ALL_TAGS
        shown = data.filter_by_tag(rows, tag)
        note = (
            f"{len(shown)} of {len(rows)} hard example(s)"
            if rows
            else "No hard examples: the run has not been evaluated."
        )
        return (
            table(data.HARD_HEADERS, [data.hard_cells(r) for r in shown]),
            gr.Dropdown(choices=choices, value=tag),
            note,
        )

    def evaluations(self, run_ids: Optional[List[str]]) -> Any:
        try:
            choices = comparison.evaluation_choices(self.store, run_ids or [])
        except Exception:  # noqa: BLE001 - an unknown id simply offers the main evaluation
            choices = [data.MAIN]
        return gr.Dropdown(choices=choices, value=data.MAIN)

    def metrics(self, run_ids: Optional[List[str]], evaluation: Optional[str] = None) -> Any:
        try:
            choices, preferred = comparison.metric_choices(self.store, run_ids or [], evaluation)
        except Exception:  # noqa: BLE001 - an unknown id simply offers no metric
            choices, preferred = [], None
        return gr.Dropdown(choices=choices, value=preferred)

    def compare(
        self, run_ids: Optional[List[str]], metric: Optional[str], evaluation: Optional[str] = None
    ) -> Tuple[Any, ...]:
        try:
            result = comparison.compare_runs(self.store, run_ids or [], metric, evaluation)
        except Exception as exc:  # noqa: BLE001 - shown on the page
            empty = table(("",), [])
            return failure(exc), empty, None, empty, empty, ""
        notes = "\n".join(f"- {n}" for n in result.notes)
        where = "eval/" if result.evaluation == data.MAIN else f"eval/{result.evaluation}/"
        return (
            f"Comparing **{result.metric}** on evaluation **{result.evaluation}** ({where}); "
            f"baseline `{result.runs[0]}`.\n\n{notes}",
            table(*comparison.overall_table(result)),
            plots.deltas_figure(result),
            table(*comparison.slice_table(result)),
            table(*comparison.config_diff_table(result)),
            format_comparison(result, "table"),
        )


def _detail_status(d: RunDetail) -> str:
    status = dict(d.meta).get("status", "unknown")
    lines = [f"### {d.run_id} ({status})"]
    lines += [f"- Tracked in {link.tracker}: " + _linked(link) for link in d.tracking]
    lines += [f"- Could not read: {p}" for p in d.problems]
    if d.evaluations:
        named = ", ".join(f"{n} (eval/{n}/)" for n in d.evaluations)
        lines.append(
            f"- Evaluation metrics below: the main evaluation (eval/). Other evaluations: {named}; "
            "compare them in the Compare tab (Evaluation)."
        )
    return "\n".join(lines)


def _linked(link: TrackingLink) -> str:
    """The tracker's run id, as a link to its page when it has one."""
    return f"[run {link.run_id}]({link.url})" if link.url else f"run {link.run_id}"


def _slices_table(d: RunDetail) -> Table:
    headers: List[str] = ["Slice key"]
    rows: List[List[Any]] = []
    for key in d.slices:
        sub_headers, sub_rows = d.slice_table(key)
        if len(sub_headers) + 1 > len(headers):
            headers = ["Slice key", *sub_headers]
        rows += [[key, *r] for r in sub_rows]
    return table(headers, [r + [None] * (len(headers) - len(r)) for r in rows])


def _empty_detail(message: str) -> Tuple[Any, ...]:
    blank = pairs_table([])
    return (
        message,
        blank,
        blank,
        None,
        table(("Metric", "Value"), []),
        table(("Slice key",), []),
        None,
        blank,
        blank,
    )


# ---------------------------------------------------------------------- layout


def build_app(runs_dir: Union[Path, str], *, environment_for: Optional[EnvironmentFor] = None) -> gr.Blocks:
    """The dashboard over ``runs_dir`` (a folder or a bucket URL); every page load rescans it."""
    store = open_store(runs_dir)
    h = Handlers(store, environment_for or default_environment)
    ids = data.run_ids(store, dry_runs=False)
    demo: gr.Blocks
    with gr.Blocks(title=TITLE, analytics_enabled=False) as demo:
        gr.Markdown(f"# {TITLE}")
        with gr.Tabs() as tabs:
            with gr.Tab("Runs", id="runs"):
                with gr.Row():
                    runs_note = gr.Markdown()
                    show_dry = gr.Checkbox(False, label="Show dry runs", scale=0, elem_id="show-dry-runs")
                    refresh = gr.Button("Refresh", variant="secondary", scale=0, elem_id="refresh")
                runs_table = gr.Dataframe(
                    table(data.RUN_HEADERS, []),
                    datatype=list(data.RUN_TYPES),
                    interactive=False,
                    wrap=True,
                    elem_id="runs-table",
                    label="Runs (click a column header to sort, a row to open it)",
                )
            with gr.Tab("Run Detail", id="detail"):
                run_pick = gr.Dropdown(
                    ids,
                    value=None,
                    allow_custom_value=True,
                    label="Run (pick one, or type or paste a run id)",
                    elem_id="detail-run",
                )
                detail_outputs, verify_md = _detail_layout()
            with gr.Tab("Hard Examples", id="hard"):
                with gr.Row():
                    hard_run = gr.Dropdown(ids, value=None, label="Run", elem_id="hard-run")
                    hard_tag = gr.Dropdown(
                        [data.ALL_TAGS], value=data.ALL_TAGS, label="Filter by tag value", elem_id="hard-tag"
                    )
                hard_note = gr.Markdown()
                hard_table = gr.Dataframe(
                    table(data.HARD_HEADERS, []),
                    interactive=False,
                    wrap=True,
                    elem_id="hard-table",
                    label="Worst predictions",
                )
            with gr.Tab("Compare", id="compare"):
                compare_outputs, cmp_runs, cmp_eval, cmp_metric, cmp_button = _compare_layout(ids)

        refresh_outputs = [runs_table, runs_note, run_pick, hard_run, cmp_runs]
        demo.load(h.refresh, inputs=show_dry, outputs=refresh_outputs, api_name="runs")
        refresh.click(h.refresh, inputs=show_dry, outputs=refresh_outputs, api_visibility="private")
        show_dry.change(h.refresh, inputs=show_dry, outputs=refresh_outputs, api_visibility="private")
        run_pick.change(h.detail, inputs=run_pick, outputs=detail_outputs, api_name="run_detail").then(
            h.verify, inputs=run_pick, outputs=verify_md, api_name="verify"
        )
        runs_table.select(_open_run, outputs=[run_pick, tabs], api_visibility="private")
        hard_run.change(
            h.hard,
            inputs=[hard_run, hard_tag],
            outputs=[hard_table, hard_tag, hard_note],
            api_name="hard_examples",
        )
        hard_tag.input(
            h.hard,
            inputs=[hard_run, hard_tag],
            outputs=[hard_table, hard_tag, hard_note],
            api_visibility="private",
        )
        cmp_runs.change(h.metrics, inputs=cmp_runs, outputs=cmp_metric, api_name="compare_metrics").then(
            h.evaluations, inputs=cmp_runs, outputs=cmp_eval, api_name="compare_evaluations"
        )
        cmp_eval.input(h.metrics, inputs=[cmp_runs, cmp_eval], outputs=cmp_metric, api_visibility="private")
        cmp_button.click(
            h.compare, inputs=[cmp_runs, cmp_metric, cmp_eval], outputs=compare_outputs, api_name="compare"
        )
    return demo


def _open_run(evt: gr.SelectData) -> Tuple[Any, Any]:
    """A click on a row of the Runs table opens that run in Run Detail."""
    row = evt.row_value or []
    return gr.Dropdown(value=row[0] if row else None), gr.Tabs(selected="detail")


def _detail_layout() -> Tuple[List[Any], Any]:
    status = gr.Markdown(elem_id="detail-status")
    with gr.Row():
        meta = gr.Dataframe(pairs_table([]), interactive=False, label="Run", elem_id="detail-meta")
        training = gr.Dataframe(
            pairs_table([]), interactive=False, label="Training metrics", elem_id="detail-training"
        )
    loss = gr.Plot(label="Loss curve", elem_id="detail-loss")
    eval_table = gr.Dataframe(
        table(("Metric", "Value"), []), interactive=False, label="Evaluation metrics", elem_id="detail-eval"
    )
    slices = gr.Dataframe(
        table(("Slice key",), []), interactive=False, label="Slices", elem_id="detail-slices"
    )
    slices_plot = gr.Plot(label="Slices", elem_id="detail-slices-plot")
    hashes = gr.Dataframe(
        pairs_table([]),
        interactive=False,
        label="Reproducibility hashes",
        elem_id="detail-hashes",
        column_widths=["25%", "75%"],
    )
    usage = gr.Dataframe(pairs_table([]), interactive=False, label="Usage", elem_id="detail-usage")
    verify_md = gr.Markdown(elem_id="detail-verify")
    return [status, meta, training, loss, eval_table, slices, slices_plot, hashes, usage], verify_md


def _compare_layout(ids: Sequence[str]) -> Tuple[List[Any], Any, Any, Any, Any]:
    with gr.Row():
        runs = gr.Dropdown(
            ids,
            value=[],
            multiselect=True,
            allow_custom_value=True,
            label="Runs (the first is the baseline; pick, or type or paste run ids)",
            elem_id="compare-runs",
            scale=3,
        )
        evaluation = gr.Dropdown(
            [data.MAIN], value=data.MAIN, label="Evaluation", elem_id="compare-eval", scale=1
        )
        metric = gr.Dropdown([], value=None, label="Metric", elem_id="compare-metric", scale=1)
        button = gr.Button("Compare", variant="primary", scale=0, elem_id="compare-button")
    summary = gr.Markdown(elem_id="compare-summary")
    overall = gr.Dataframe(
        table(comparison.OVERALL_HEADERS, []),
        interactive=False,
        label="Comparison",
        elem_id="compare-overall",
    )
    deltas = gr.Plot(label="Per-slice deltas", elem_id="compare-deltas")
    slices = gr.Dataframe(
        table(comparison.SLICE_HEADERS, []), interactive=False, label="Slices", elem_id="compare-slices"
    )
    config = gr.Dataframe(
        table(("Config key",), []), interactive=False, label="Config differences", elem_id="compare-config"
    )
    report = gr.Code(
        label="As compare-cmd prints it",
        lines=12,
        interactive=False,
        show_line_numbers=False,
        buttons=["copy"],
        elem_id="compare-report",
    )
    return [summary, overall, deltas, slices, config, report], runs, evaluation, metric, button


__all__ = ["Handlers", "build_app"]
