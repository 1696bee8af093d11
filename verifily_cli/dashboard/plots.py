"""Charts of the dashboard as matplotlib figures (inline PNGs in the page, never files on disk).

Why ``Figure`` objects rather than ``pyplot``: each request draws its own figure with no global
state, so two browsers asking at once cannot draw into each other's chart, and no GUI backend is
ever touched on a headless server.
"""

from __future__ import annotations

from typing import Any, Mapping, Optional

from matplotlib.figure import Figure

from verifily_cli.dashboard.logs import LossHistory
from verifily_core.domain.compare import CompareResult

_LABELS = {"loss": "train loss", "eval_loss": "eval loss"}
_WIDTH = 7.0


def _empty(message: str) -> Figure:
    fig = Figure(figsize=(_WIDTH, 1.6))
    ax = fig.add_subplot()
    ax.axis("off")
    ax.text(0.5, 0.5, message, ha="center", va="center", color="#666666")
    return fig


def loss_figure(history: LossHistory) -> Figure:
    """Train and eval loss over steps."""
    if history.empty:
        return _empty("No loss values logged for this run.")
    fig = Figure(figsize=(_WIDTH, 3.4), layout="constrained")
    ax = fig.add_subplot()
    for name, points in history.curves.items():
        if points:
            steps, values = zip(*points)
            ax.plot(steps, values, marker="o", markersize=3, label=_LABELS.get(name, name))
    ax.set_xlabel("step")
    ax.set_ylabel("loss")
    ax.set_title(f"Loss curve (from {history.source})", fontsize=10)
    ax.grid(alpha=0.3)
    ax.legend()
    return fig


def slices_figure(slices: Mapping[str, Mapping[str, Mapping[str, Any]]], metric: Optional[str]) -> Figure:
    """One bar chart per slice key: ``metric`` for each tag value, with its n on the bar."""
    keys = [k for k, table in slices.items() if table]
    if not keys or not metric:
        return _empty("No slice metrics in eval/eval_results.json.")
    fig = Figure(figsize=(_WIDTH, 2.6 * len(keys)), layout="constrained")
    for i, key in enumerate(keys, 1):
        ax = fig.add_subplot(len(keys), 1, i)
        table = slices[key]
        values = [str(v) for v in table]
        heights = [_value(table[v].get(metric)) for v in table]
        bars = ax.bar(values, heights, color="#4C72B0")
        ax.bar_label(
            bars, labels=[f"{h:.3f} (n={table[v].get('n', '?')})" for v, h in zip(table, heights)], fontsize=8
        )
        ax.set_title(f"{metric} by {key}", fontsize=10)
        ax.set_ylim(0, max([*heights, 1e-9]) * 1.25)
    return fig


def deltas_figure(result: CompareResult) -> Figure:
    """Per-slice (and overall) deltas of each run against the first, as grouped horizontal bars."""
    others = result.runs[1:]
    groups = [("overall", [result.deltas[r] for r in others])]
    groups += [
        (f"{key}={value}", [_value(row[r]["delta"]) for r in others])
        for key, table in result.slices.items()
        for value, row in table.items()
    ]
    fig = Figure(figsize=(_WIDTH, 1.0 + 0.45 * len(groups) * max(1, len(others))), layout="constrained")
    ax = fig.add_subplot()
    height = 0.8 / max(1, len(others))
    for j, run in enumerate(others):
        ys = [i + j * height for i in range(len(groups))]
        ax.barh(ys, [deltas[j] for _name, deltas in groups], height=height, label=run)
    ax.set_yticks(
        [i + height * (len(others) - 1) / 2 for i in range(len(groups))], labels=[name for name, _ in groups]
    )
    ax.invert_yaxis()
    ax.axvline(0, color="black", linewidth=0.8)
    ax.set_xlabel(f"delta of {result.metric} vs {result.runs[0]}")
    ax.set_title(f"Per-slice deltas of {result.metric}", fontsize=10)
    ax.legend(fontsize=8)
    return fig


def _value(value: Optional[float]) -> float:
    return 0.0 if value is None else float(value)
