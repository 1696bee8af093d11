"""The heat map of an attribution study: removed value x test slice, coloured by effect.

matplotlib is imported here, lazily and with the Agg backend (no display needed), so that neither
the core nor ``verifily --help`` ever loads it.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, List, Mapping, Optional, Tuple

Cell = Optional[Mapping[str, Any]]


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
