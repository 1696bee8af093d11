"""What ``verifily attribute`` does once its flags are parsed: the study, its progress, the report.

The plan, the time estimate and one line per finished run go to stderr; the effects table (or the
``--json`` document) goes to stdout. The heat map is drawn here, after the study, because plotting
is a presentation concern and matplotlib must stay out of the core.
"""

from __future__ import annotations

from dataclasses import fields
from pathlib import Path
from typing import TYPE_CHECKING, Any, List, Mapping, Optional, Tuple, cast

from verifily_cli.options import refuse_flags_on_resume
from verifily_cli.render import err, out, print_json, relative
from verifily_cli.study_folders import open_study_folder
from verifily_core.domain.attribution import CONTROL, PlannedRun

if TYPE_CHECKING:
    from verifily_core.services.attribution.types import (
        AttributeCallbacks,
        AttributeSettings,
        AttributionReport,
    )

Cell = Optional[Mapping[str, Any]]  # one effect with its interval, or None (no finished run)

_FLAG_OF = {"n_boot": "--bootstrap", "control": "--no-control"}  # settings fields whose flag has another name


def run_attribute(
    *,
    config: Optional[Path],
    settings: AttributeSettings,
    resume: Optional[Path],
    json_output: bool,
    overrides: Optional[Mapping[str, Any]] = None,
) -> None:
    """A new study on ``config`` with ``overrides`` (``--set``, ``--epochs``) applied to every run, or
    ``resume`` one (which takes its config and flags from its folder)."""
    from verifily_core.bootstrap import build_training
    from verifily_core.config import TrainConfig
    from verifily_core.errors import AttributionError
    from verifily_core.services.attribution import attribute as use_case

    callbacks = study_callbacks()
    if resume is not None:
        _check_resume_flags(config, settings, overrides or {})
        store, study_id = open_study_folder(resume, AttributionError, "attribute")
        report = use_case.resume(study_id, store=store, deps_factory=build_training, callbacks=callbacks)
    else:
        if config is None:
            raise AttributionError(
                "verifily attribute needs --config (or --resume runs/attribute_<id>).",
                hint="Example: verifily attribute --config train.yaml --by _source_dataset",
            )
        cfg = TrainConfig.from_yaml(config)
        cfg = cfg.apply_overrides(overrides) if overrides else cfg
        report = use_case.attribute(
            cfg,
            settings,
            store=build_training(cfg).store,
            deps_factory=build_training,
            callbacks=callbacks,
            config_path=config,
        )
    show_report(report, json_output=json_output)


def show_report(report: AttributionReport, *, json_output: bool = False) -> None:
    """Draw the heat map into the study folder, then print the table (or the JSON document)."""
    from verifily_core.domain.attribution import ATTRIBUTE_HEATMAP

    heatmap = save_heatmap(report.results, Path(report.study_dir) / ATTRIBUTE_HEATMAP)
    if json_output:
        print_json(report.results)
    else:
        out.print(format_attribution(report.results), markup=False)
    err.print(
        f"Study folder: {relative(report.study_dir)} (attribute_results.json, attribute_results.csv"
        f"{', ' + heatmap.name if heatmap else ''})",
        markup=False,
    )


def _check_resume_flags(
    config: Optional[Path], settings: AttributeSettings, overrides: Mapping[str, Any]
) -> None:
    from verifily_core.errors import AttributionError
    from verifily_core.services.attribution.types import AttributeSettings

    flag_of = {f.name: _FLAG_OF.get(f.name, "--" + f.name.replace("_", "-")) for f in fields(settings)}
    defaults = AttributeSettings()
    refuse_flags_on_resume(
        {
            **{flag: getattr(settings, name) for name, flag in flag_of.items()},
            "--config": config,
            "--set/--epochs": overrides or None,
        },
        AttributionError,
        defaults={flag: getattr(defaults, name) for name, flag in flag_of.items()},
        resumed="the study saved in its folder",
        hint="The config, tag key, seeds, budget and bootstrap come from its attribute_spec.json.",
    )


def study_callbacks() -> AttributeCallbacks:
    """Plan, estimate and one line per run on stderr."""
    from verifily_core.services.attribution.types import AttributeCallbacks

    def on_plan(results: Mapping[str, Any]) -> None:
        runs = results["runs"]
        left = sum(1 for r in runs if r["status"] != "completed")
        err.print(f"Attribution study: {relative(results['study_dir'])}", markup=False)
        n_values = len(results["values"])
        controls = sum(1 for r in runs if str(r["removed"] or "").startswith(CONTROL)) // len(
            results["seeds"]
        )
        err.print(
            f"  Plan: {len(runs)} run(s) = (full data + {n_values} ablation(s) of {results['by']}"
            + (f" + {controls} same-size control(s)" if controls else "")
            + f") x {len(results['seeds'])} seed(s) {results['seeds']}; {left} to train.",
            markup=False,
        )
        for note in results["notes"]:
            if note.startswith("--budget"):
                err.print(f"  {note}", markup=False)

    def on_estimate(seconds: float, left: int) -> None:
        err.print(
            f"  First run took {seconds:.0f} s: about {_duration(seconds * left)} for the {left} "
            "remaining run(s).",
            markup=False,
        )

    def on_run_start(index: int, total: int, planned: PlannedRun) -> None:
        err.print(f"  [{index}/{total}] training {planned.label} (seed {planned.seed}) ...", markup=False)

    def on_run_end(record: Mapping[str, Any]) -> None:
        if record["status"] == "completed":
            value = record["value"]
            shown = f"{value:.4f}" if isinstance(value, float) else str(value)
            err.print(f"      {record['run_id']}: {shown} ({record['duration_seconds']:.0f} s)", markup=False)
        else:
            err.print(f"      {record['status'].upper()}: {record['error']}", markup=False)

    return AttributeCallbacks(
        on_plan=on_plan, on_estimate=on_estimate, on_run_start=on_run_start, on_run_end=on_run_end
    )


def _duration(seconds: float) -> str:
    return f"{seconds:.0f} s" if seconds < 120 else f"{seconds / 60:.0f} min"


# ---------------------------------------------------------------------- the table


def _interval(cell: Cell, min_n: int) -> str:
    if cell is None:
        return "no finished run"
    text = f"{cell['effect']:+.4f}  [{cell['low']:+.4f}, {cell['high']:+.4f}]"
    if cell["too_small"]:
        return f"{text}   too small to judge (n<{min_n})"
    return text + (" *" if cell["significant"] else "")


_CELL = 48  # width of an effect cell, so that the control's column lines up


def _beside(entry: Mapping[str, Any], where: Tuple[str, ...], min_n: int) -> str:
    """An effect and, when the study has one, its same-size control's effect in the next column;
    ``where`` is the cell's path in each (``("overall",)`` or ``("slices", key, value)``)."""
    text = _interval(_cell(entry, where), min_n)
    control = entry.get("control")
    if not control:
        return text
    return f"{text.ljust(_CELL)}   {_interval(_cell(control, where), min_n)}".rstrip()


def _cell(part: Mapping[str, Any], where: Tuple[str, ...]) -> Cell:
    found: Any = part
    for step in where:
        found = found[step]
    return cast(Cell, found)


def format_attribution(results: Mapping[str, Any]) -> str:
    """The effects as text: overall per removed value, then one block per test slice."""
    metric, effects = results["metric"], results.get("effects") or []
    baseline = results.get("baseline") or {}
    width = max([12, *(len(str(e["removed"])) + 2 for e in effects)])
    min_n = results["min_slice_n"]
    lines: List[str] = [
        f"Attribution: {metric} by {results['by']}",
        f"  {results['num_runs']} run(s), seeds {results['seeds']}; {results['confidence']:.0%} intervals "
        f"from {results['n_boot']} resamples of test examples and seeds (seed {results['seed']}); "
        "* excludes zero",
        "",
        f"  Baseline (full data): {baseline.get('overall', float('nan')):.4f}",
        "",
        f"  {'Removed'.ljust(width)} {'Rows'.rjust(6)}   {'Effect    95% CI'.ljust(_CELL)}"
        + ("   Same-size control  95% CI" if any("control" in e for e in effects) else ""),
    ]
    rows_removed = results.get("rows_removed") or {}
    for e in effects:
        rows = str(rows_removed.get(e["removed"], ""))
        lines.append(
            f"  {str(e['removed']).ljust(width)} {rows.rjust(6)}   " + _beside(e, ("overall",), min_n)
        )
    for key, table in (baseline.get("slices") or {}).items():
        for value, base in table.items():
            lines += ["", f"  Slice {key}={value} (n={base['n']}, baseline {base['value']:.4f}):"]
            for e in effects:
                lines.append(
                    f"    {str(e['removed']).ljust(width - 2)} {' ' * 6}   "
                    + _beside(e, ("slices", key, value), min_n)
                )
    lines.append("")
    lines += [f"  Note: {note}" for note in results.get("notes") or []]
    return "\n".join(lines) + "\n"


# ---------------------------------------------------------------------- the heat map
# matplotlib is imported lazily, with the Agg backend (no display needed), so that neither the core
# nor ``verifily --help`` ever loads it.


def heatmap_grid(results: Mapping[str, Any]) -> Tuple[List[str], List[str], List[List[Cell]]]:
    """Row labels (removed values), column labels (``overall`` then ``key=value``) and the cells."""
    effects = results.get("effects") or []
    slices = (results.get("baseline") or {}).get("slices") or {}
    columns = [(None, None)] + [(key, value) for key, table in slices.items() for value in table]
    labels = ["overall" if key is None else f"{key}={value}" for key, value in columns]
    grid = [
        [e["overall"] if key is None else e["slices"][key][value] for key, value in columns] for e in effects
    ]
    return [str(e["removed"]) for e in effects], labels, grid


def save_heatmap(results: Mapping[str, Any], path: Path) -> Optional[Path]:
    """Draw the heat map to ``path`` (PNG); None when the study has no effects to draw."""
    rows, columns, grid = heatmap_grid(results)
    if not rows:
        return None
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import numpy as np

    values = np.array([[np.nan if c is None else c["effect"] for c in row] for row in grid], dtype=float)
    limit = float(np.nanmax(np.abs(values))) if np.isfinite(values).any() else 1.0
    fig, ax = plt.subplots(figsize=(1.6 + 1.3 * len(columns), 1.4 + 0.6 * len(rows)))
    limit = limit or 1.0
    # the run without the rows is coloured as a result: red where it got worse (the rows helped),
    # blue where it got better (the rows hurt), whichever direction the metric improves in
    cmap = "RdBu_r" if results.get("lower_is_better") else "RdBu"
    image = ax.imshow(values, cmap=cmap, vmin=-limit, vmax=limit, aspect="auto")
    ax.set_xticks(range(len(columns)), labels=columns, rotation=30, ha="right")
    ax.set_yticks(range(len(rows)), labels=[f"without {r}" for r in rows])
    for i, row in enumerate(grid):
        for j, cell in enumerate(row):
            dark = np.isfinite(values[i, j]) and abs(values[i, j]) > 0.6 * limit
            ax.text(
                j, i, _label(cell), ha="center", va="center", fontsize=8, color="white" if dark else "black"
            )
    fig.colorbar(image, ax=ax, label=f"{results.get('metric')}: without - full")
    ax.set_title(
        f"Effect of removing each {results.get('by')} value\n(* interval excludes zero, ~ slice too small)",
        fontsize=9,
    )
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    fig.savefig(tmp, format="png", dpi=120)
    plt.close(fig)
    tmp.replace(path)  # atomic: a study folder never holds half a PNG
    return path


def _label(cell: Cell) -> str:
    if cell is None:
        return "n/a"
    mark = "~" if cell["too_small"] else ("*" if cell["significant"] else "")
    return f"{cell['effect']:+.3f}{mark}"
