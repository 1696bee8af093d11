"""A comparison rendered as the user guide's table, as JSON or as CSV.

Why apart from ``domain.compare``: the numbers are computed once there; this is only their
printing, shared by ``compare-cmd``, ``verifily_train.compare`` and the demos. The table is the
guide's shape (section 5, "Sample table output"); JSON is :meth:`CompareResult.to_dict`; CSV has
one row per run overall, then one per (run, slice key, slice value).
"""

from __future__ import annotations

import csv
import io
import json
from typing import Any, List, Mapping, Optional

from verifily_core.domain.compare import CompareResult
from verifily_core.domain.tracking import TrackingLink
from verifily_core.errors import CompareError

CSV_COLUMNS = ("run", "slice_key", "slice_value", "n", "metric", "value", "delta")
CSV_SIGNIFICANCE_COLUMNS = ("ci_low", "ci_high", "significant", "too_small", "paired")
FORMATS = ("table", "json", "csv")
_NAME_WIDTH = 35
_VALUE_WIDTH = 10


def format_comparison(result: CompareResult, fmt: str = "table") -> str:
    """Render a comparison as ``table`` (the guide's shape), ``json`` or ``csv``."""
    if fmt == "table":
        return _table(result)
    if fmt == "json":
        return json.dumps(result.to_dict(), indent=2, ensure_ascii=False) + "\n"
    if fmt == "csv":
        return _csv(result)
    raise CompareError(f"Unknown comparison format {fmt!r}; use one of: {', '.join(FORMATS)}.")


def _num(value: Optional[float]) -> str:
    return "n/a" if value is None else f"{value:.4f}"


def _signed(value: Optional[float]) -> str:
    return "n/a" if value is None else f"{value:+.4f}"


def _shown(value: Any) -> str:
    if value is None:
        return "(not set)"
    return value if isinstance(value, str) else json.dumps(value)


def _table(result: CompareResult) -> str:
    width = max([_NAME_WIDTH, *(len(name) + 2 for name in result.runs)])
    name = result.evaluation
    on = "" if name == "main" else f" on evaluation {name} (eval/{name}/)"
    lines = [f"Comparison: {result.metric}{on}", ""]
    lines.append(f"  {'Run'.ljust(width)} {'Overall'.center(_VALUE_WIDTH)}".rstrip())
    lines.append(f"  {'-' * width} {'-' * _VALUE_WIDTH}")
    lines += [f"  {n.ljust(width)} {_num(result.overall[n]).rjust(_VALUE_WIDTH)}" for n in result.runs]
    deltas = " ".join(_signed(result.deltas[name]).rjust(_VALUE_WIDTH) for name in result.runs)
    lines += ["", f"  {'Delta (vs first)'.ljust(width)} {deltas}"]
    sig = result.significance
    if sig is not None:
        lines += [
            "",
            f"  {sig['confidence']:.0%} CI of delta ({sig['method']}, {sig['n_boot']} resamples, "
            f"seed {sig['seed']}; * excludes zero):",
        ]
        lines += [f"    {n.ljust(width - 2)} {_interval(sig['overall'][n], sig)}" for n in result.runs[1:]]
    for key, table in result.slices.items():
        for value, row in table.items():
            lines += ["", f"  Slice {key}={value}:"]
            for name in result.runs:
                cell = row[name]
                n = "" if cell["n"] is None else f"   n={int(cell['n'])}"
                line = (
                    f"    {name.ljust(width - 2)} {_num(cell['value']).rjust(_VALUE_WIDTH)} "
                    f"{_signed(cell['delta']).rjust(_VALUE_WIDTH)}{n}"
                )
                if sig is not None and name != result.runs[0]:
                    line = f"{line.ljust(width + 34)} {_interval(sig['slices'][key][value][name], sig)}"
                lines.append(line.rstrip())
    lines += ["", "  Config differences:" if result.config_diff else "  Config differences: none"]
    for key, values in result.config_diff.items():
        lines.append(f"    {key}:")
        lines += [f"      {name}: {_shown(value)}" for name, value in values.items()]
    if result.tracking:
        lines += ["", "  Tracked in:"]
        for name, links in result.tracking.items():
            lines += [f"    {name}: {TrackingLink(**link).shown()}" for link in links]
    lines.append("")
    lines += [f"  Note: {note}" for note in result.notes + (sig["notes"] if sig is not None else [])]
    return "\n".join(lines) + "\n"


def _interval(cell: Optional[Mapping[str, Any]], sig: Mapping[str, Any]) -> str:
    if cell is None:
        return "no interval"
    text = f"[{cell['low']:+.4f}, {cell['high']:+.4f}]"
    if cell["too_small"]:
        return f"{text}   too small to judge (n<{sig['min_slice_n']})"
    return text + (" *" if cell["significant"] else "") + ("" if cell["paired"] else " (unpaired)")


def _csv(result: CompareResult) -> str:
    buf = io.StringIO()
    writer = csv.writer(buf, lineterminator="\n")
    sig = result.significance
    writer.writerow(CSV_COLUMNS + (CSV_SIGNIFICANCE_COLUMNS if sig is not None else ()))

    def interval(cell: Optional[Mapping[str, Any]]) -> List[Any]:
        if sig is None:
            return []
        return [_blank((cell or {}).get(c)) for c in ("low", "high", "significant", "too_small", "paired")]

    for name in result.runs:
        writer.writerow(
            [
                name,
                "",
                "",
                _blank(result.num_examples[name]),
                result.metric,
                result.overall[name],
                result.deltas[name],
                *interval(sig["overall"].get(name) if sig else None),
            ]
        )
    for key, table in result.slices.items():
        for value, row in table.items():
            for name in result.runs:
                cell = row[name]
                writer.writerow(
                    [
                        name,
                        key,
                        value,
                        _blank(cell["n"]),
                        result.metric,
                        _blank(cell["value"]),
                        _blank(cell["delta"]),
                        *interval(sig["slices"][key][value].get(name) if sig else None),
                    ]
                )
    return buf.getvalue()


def _blank(value: Any) -> Any:
    return "" if value is None else value
