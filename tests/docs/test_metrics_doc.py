"""docs/evaluation.md's metric table is the registry's, row for row, and its "Adding a metric"
example is a working entry: registered, it is scored and sliced, and the table then misses it."""

from __future__ import annotations

import re
import textwrap
from pathlib import Path
from typing import Any, Dict, List

import pytest

from verifily_core.domain import metrics as m
from verifily_core.domain.evaluation import build_records, score_records
from verifily_core.domain.examples import SFTExample
from verifily_core.domain.slicing import slice_metrics

PAGE = Path(__file__).resolve().parents[2] / "docs" / "evaluation.md"
NEEDS = {m.GENERATE: "generated answer", m.REFERENCE_LOSS: "reference loss", m.CLASSIFY: "predicted label"}
HEADER = "| Metric | Task | Needs | Better | Per slice | What it is |"


def _row(spec: m.MetricSpec) -> str:
    """The table row a registry entry must have in the docs."""
    name = f"`{spec.name}`" + (" (default)" if spec.primary else "")
    needs = ", ".join(NEEDS[i] for i in m.INPUTS if i in spec.needs)
    better = ("lower" if spec.lower_is_better else "higher") if spec.scalar else "—"
    cells = [name, ", ".join(spec.tasks), needs, better, "yes" if spec.scalar else "no", spec.description]
    return "| " + " | ".join(cells) + " |"


def _documented_rows() -> List[str]:
    lines = PAGE.read_text(encoding="utf-8").splitlines()
    start = lines.index(HEADER) + 2  # past the header and its |---| line
    end = next(i for i in range(start, len(lines)) if not lines[i].startswith("|"))
    return lines[start:end]


def test_the_metric_table_is_the_registry_row_for_row() -> None:
    expected = [_row(spec) for spec in m.METRICS]
    assert _documented_rows() == expected, "docs/evaluation.md's metric table should read:\n" + "\n".join(
        expected
    )


def _example_specs() -> List[m.MetricSpec]:
    """The entries that the "Adding a metric" example appends to METRICS, built in metrics' namespace."""
    text = PAGE.read_text(encoding="utf-8")
    section = text[text.index("### Adding a metric") :]
    [code] = re.findall(r"```py\n(.*?)```", section, flags=re.S)[:1]
    namespace: Dict[str, Any] = dict(vars(m))
    exec(compile(textwrap.dedent(code), "docs/evaluation.md", "exec"), namespace)  # noqa: S102
    return [entry for entry in namespace["METRICS"] if isinstance(entry, m.MetricSpec)]


def test_the_documented_example_is_one_entry_that_reaches_slices_and_the_table_check(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    [spec] = _example_specs()
    monkeypatch.setattr(m, "METRICS", (*m.METRICS, spec))
    rows = [("red fox", "a red fox ran", "human"), ("42", "42", "human"), ("blue sky", "blue", "synthetic")]
    examples = [SFTExample(f"q{i}", ref, tags={"source": s}) for i, (ref, _, s) in enumerate(rows)]
    records = build_records(examples, predictions=[p for _, p, _ in rows])
    score_records(records, "sft", [spec.name])
    table = slice_metrics(records, ["source"], task="sft", metrics=[spec.name])["source"]
    assert [r["scores"][spec.name] for r in records] == [4 / 2, 1.0, 1 / 2]  # answer over reference tokens
    assert table["human"][spec.name] == pytest.approx((4 / 2 + 1.0) / 2)
    assert table["synthetic"][spec.name] == pytest.approx(1 / 2)
    assert _row(spec) not in _documented_rows()  # forgetting its table row fails the test above
