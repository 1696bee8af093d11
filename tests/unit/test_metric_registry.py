"""The metric registry is the one place a metric is declared: every registered metric reaches the
overall and per-slice results, and a new entry (the registry monkeypatched) reaches everything that
reads metrics (checks, model inputs, per-example scores, slices, recomputed slices, intervals)
with no other edit. The lists here come from the registry, never written out by hand."""

from __future__ import annotations

import json
import math
from typing import Any, Dict, List, Sequence

import numpy as np
import pytest

from verifily_core.domain import metric_choice
from verifily_core.domain import metrics as m
from verifily_core.domain.compare_slices import slice_from_predictions
from verifily_core.domain.evaluation import EvalResult, build_records, render_slices, score_records
from verifily_core.domain.examples import ClassificationExample, Example, SFTExample
from verifily_core.domain.significance import statistic
from verifily_core.domain.slicing import overall_metrics, slice_metrics
from verifily_core.domain.training import ClassPrediction, TokenLoss
from verifily_core.errors import EvaluationError
from verifily_core.services.evaluation.settings import needs, resolve_settings

ANSWERS = [  # (reference, prediction, source)
    ("paris", "Paris.", "human"),
    ("the red fox", "a red dog that ran", "synthetic"),
    ("42", "forty two", "human"),
    ("blue sky", "blue", "synthetic"),
    ("yes", "yes", "human"),
]
LABELS = ["neg", "pos"]


def _examples(task: str) -> List[Example]:
    if task == m.CLASSIFICATION:
        return [
            ClassificationExample(p, LABELS[i % 2], tags={"source": s}) for i, (_, p, s) in enumerate(ANSWERS)
        ]
    return [SFTExample(f"q{i}", ref, tags={"source": s}) for i, (ref, _, s) in enumerate(ANSWERS)]


def _records(task: str, names: Sequence[str]) -> List[Dict[str, Any]]:
    """Records holding exactly the model outputs that ``names`` need, as evaluation builds them."""
    wanted = m.needed_inputs(task, names)
    n = len(ANSWERS)
    return build_records(
        _examples(task),
        predictions=[p for _, p, _ in ANSWERS] if wanted[m.GENERATE] else None,
        losses=[TokenLoss(float(i + 1), i + 2) for i in range(n)] if wanted[m.REFERENCE_LOSS] else None,
        class_predictions=[ClassPrediction(LABELS[i % 3 % 2], {"neg": 0.4, "pos": 0.6}) for i in range(n)]
        if wanted[m.CLASSIFY]
        else None,
    )


@pytest.mark.parametrize("task", list(m.registry()))
def test_every_registered_metric_reaches_overall_and_every_slice(task: str) -> None:
    names = m.available_metrics(task)
    records = _records(task, names)
    score_records(records, task, names)
    overall = overall_metrics(records, task, names, LABELS)
    table = slice_metrics(records, ["source"], task=task, metrics=names, labels=LABELS)["source"]

    assert list(overall) == names
    scalar = m.scalar_metrics(task, names)
    assert scalar and set(scalar) == {n for n in names if m.metric_spec(task, n).scalar}
    assert sum(cell["n"] for cell in table.values()) == len(ANSWERS)
    for cell in table.values():
        assert [k for k in cell if k != "n"] == scalar
        assert all(isinstance(cell[k], float) and math.isfinite(cell[k]) for k in scalar)
    assert all(isinstance(overall[k], float) for k in scalar)


def test_the_registry_entries_are_well_formed() -> None:
    by_task = m.registry()
    for spec in m.METRICS:
        assert spec.description.strip() and "\n" not in spec.description, spec.name
        assert spec.tasks and set(spec.tasks) <= set(by_task), spec.name
        assert spec.needs and spec.needs <= set(m.INPUTS), spec.name
        assert spec.fields or spec.pairs, f"{spec.name} is finished from nothing"
        if spec.scorer is not None:
            assert set(spec.fields) <= set(spec.scorer.fields), (
                f"{spec.name}: its scorer must fill its fields"
            )
        assert spec.resample is None or spec.scalar, spec.name
    for task, specs in by_task.items():
        assert [s.name for s in specs.values() if s.primary] == [metric_choice.default_metric(task)]
        for spec in specs.values():
            assert not set(spec.aliases) & set(specs), f"{spec.name}: an alias hides a metric of {task}"
    assert m.score_fields() == {f for spec in m.METRICS for f in spec.fields}
    assert [s.name for s in m.METRICS if s.lower_is_better] == ["perplexity"]


def test_a_metric_registered_twice_for_a_task_is_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(m, "METRICS", (*m.METRICS, m.METRICS[0]))
    with pytest.raises(EvaluationError, match="'exact_match' is registered twice for task sft"):
        m.available_metrics("sft")


def _length_ratio(prediction: str, reference: str) -> float:
    return len(prediction.split()) / max(len(reference.split()), 1)


def test_one_new_entry_reaches_scores_slices_recomputed_slices_and_intervals(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    spec = m.mean_metric(
        "length_ratio", m.per_example("length_ratio", _length_ratio), "answer/reference tokens"
    )
    monkeypatch.setattr(m, "METRICS", (*m.METRICS, spec))

    assert m.check_metrics("sft", ["length_ratio"]) == ["length_ratio"]
    settings = resolve_settings({"task": "sft"}, None, metrics=["length_ratio"], slice_by=["source"])
    assert needs(settings) == {m.CLASSIFY: False, m.GENERATE: True, m.REFERENCE_LOSS: False}

    records = _records("sft", ["length_ratio"])
    score_records(records, "sft", ["length_ratio"])
    ratios = [_length_ratio(p, ref) for ref, p, _ in ANSWERS]
    assert [r["scores"]["length_ratio"] for r in records] == ratios
    assert all("rouge1" not in r["scores"] for r in records)  # only what was asked (and EM/F1, always)

    table = slice_metrics(records, ["source"], task="sft", metrics=["f1", "length_ratio"])["source"]
    for source, cell in table.items():
        mine = [x for x, (_, _, s) in zip(ratios, ANSWERS) if s == source]
        assert cell["length_ratio"] == pytest.approx(sum(mine) / len(mine))
    result = EvalResult("r", "t.jsonl", len(records), {}, slices={"source": table})
    assert "length_ratio=" in render_slices(result)[1]

    saved = [json.loads(json.dumps(r)) for r in records]  # as read back from predictions.jsonl
    recomputed = slice_from_predictions(saved, "source", "length_ratio", task="sft", run="r", path="runs/r")
    assert recomputed == {k: {"n": c["n"], "length_ratio": c["length_ratio"]} for k, c in table.items()}
    stat = statistic(saved, "sft", "length_ratio")
    assert stat is not None
    assert stat(np.arange(len(ANSWERS))[None, :]) == pytest.approx([sum(ratios) / len(ratios)])
    assert not metric_choice.lower_is_better("length_ratio")
    assert metric_choice.default_metric("sft") == "f1"
