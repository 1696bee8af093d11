"""Evaluation results as data: prediction records, ``EvalResult`` and its printed slice summary.

Prediction records are the rows of ``eval/predictions.jsonl``, one per test example, in test-file
order. They keep everything needed to recompute any metric, slice or hard-example list later
without the model (and, for comparisons, to pair runs example by example):

* every task: ``index``, ``input``, ``prediction``, ``reference``, ``tags``;
* SFT: ``scores``, a mapping of the per-example fields the metrics sum (``MetricSpec.fields``):
  ``exact_match`` and ``f1`` (when generated), ``rouge1``/``rougeL`` (when asked for and
  rouge-score is installed), ``nll_sum`` and ``num_tokens`` (when perplexity was asked for);
  ``prediction`` is absent when no generation was needed;
* classification: ``probabilities`` (label -> probability), ``true_label_probability`` (0.0 for a
  label the model never saw in training) and ``correct``.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any, Dict, List, Mapping, Optional, Sequence

from verifily_core.domain import metrics as m
from verifily_core.domain.examples import ClassificationExample, Example, SFTExample
from verifily_core.domain.training import ClassPrediction, TokenLoss

Record = Dict[str, Any]
SCORES = "scores"
GUIDE_KEYS = (
    "run_id",
    "test_data_path",
    "num_examples",
    "overall",
    "slices",
    "hard_examples",
    "eval_duration_seconds",
)


def example_input(example: Example) -> str:
    """The text shown as an example's ``input``: the instruction (and its input), the conversation
    before the scored assistant turn (one ``role: content`` line per turn), or the text."""
    if isinstance(example, ClassificationExample):
        return example.text
    if example.messages:
        return "\n".join(f"{role}: {content}" for role, content in example.messages[:-1])
    return f"{example.instruction}\n\n{example.input}" if example.input else example.instruction


def build_records(
    examples: Sequence[Example],
    *,
    predictions: Optional[Sequence[str]] = None,
    losses: Optional[Sequence[TokenLoss]] = None,
    class_predictions: Optional[Sequence[ClassPrediction]] = None,
) -> List[Record]:
    """One record per example with the model outputs that were computed (not yet scored)."""
    records: List[Record] = []
    for i, ex in enumerate(examples):
        rec: Record = {"index": i, "input": example_input(ex)}
        if predictions is not None:
            rec["prediction"] = predictions[i]
        if class_predictions is not None:
            pred = class_predictions[i]
            rec["prediction"] = pred.label
            rec["probabilities"] = dict(pred.probabilities)
            rec["true_label_probability"] = float(pred.probabilities.get(ex.target, 0.0))
            rec["correct"] = pred.label == ex.target
        rec["reference"] = ex.target
        rec["tags"] = dict(ex.tags)
        if isinstance(ex, SFTExample):
            rec[SCORES] = {}
            if losses is not None:
                rec[SCORES].update(nll_sum=losses[i].nll_sum, num_tokens=losses[i].num_tokens)
        records.append(rec)
    return records


def score_records(records: Sequence[Record], task: str, metrics: Sequence[str]) -> None:
    """Fill in the per-example scores that are missing (in place) with the scorers of the task's
    metrics (``MetricSpec.scorer``): those that always run (SQuAD EM/F1) for every row with a
    prediction, the others (ROUGE) when one of their metrics is asked for. Rows read back from
    predictions.jsonl keep theirs. A task without scorers (classification) is left as it is.
    """
    scorers = m.scorers(task, metrics)
    if not scorers:
        return
    for rec in records:
        rec.setdefault(SCORES, {})
    for scorer, wanted in scorers:
        todo = [r for r in records if "prediction" in r and any(f not in r[SCORES] for f in wanted)]
        if not todo:
            continue
        scores = scorer.score([r["prediction"] for r in todo], [r["reference"] for r in todo])
        for name, values in (scores or {}).items():
            for rec, value in zip(todo, values):
                rec[SCORES][name] = value


def unseen_labels(records: Sequence[Record], labels: Sequence[str]) -> Dict[str, int]:
    """Test labels never seen in training, counted: the model can only get those rows wrong."""
    known = set(labels)
    counts: Dict[str, int] = {}
    for rec in records:
        ref = rec["reference"]
        if ref not in known:
            counts[ref] = counts.get(ref, 0) + 1
    return dict(sorted(counts.items()))


@dataclass
class EvalResult:
    """What ``evaluate`` returns and ``eval/eval_results.json`` holds (the guide's keys first).

    Beyond the guide: ``task``, ``metrics`` (as requested), ``slice_by``, ``test_data_sha256``
    (decides whether saved predictions can be reused), ``unseen_labels`` (classification) and
    ``from_predictions`` (True when recomputed from ``predictions.jsonl`` without the model) and
    ``evaluation`` (which evaluation of the run: ``main``, or a name for other test data).
    """

    run_id: str
    test_data_path: str
    num_examples: int
    overall: Dict[str, Any]
    slices: Dict[str, Dict[str, Dict[str, Any]]] = field(default_factory=dict)
    hard_examples: List[Dict[str, Any]] = field(default_factory=list)
    eval_duration_seconds: float = 0.0
    task: str = "sft"
    metrics: List[str] = field(default_factory=list)
    slice_by: List[str] = field(default_factory=list)
    test_data_sha256: Optional[str] = None
    unseen_labels: Dict[str, int] = field(default_factory=dict)
    from_predictions: bool = False
    evaluation: str = "main"  # "main" (eval/) or the name of an evaluation on other data (eval/<name>/)
    trivial_baselines: Dict[str, Dict[str, Any]] = field(default_factory=dict)  # domain.trivial_baselines

    def to_dict(self) -> Dict[str, Any]:
        data = asdict(self)
        ordered = {k: data.pop(k) for k in GUIDE_KEYS}
        if self.task != "classification":
            data.pop("unseen_labels")
        ordered.update(data)
        return ordered

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> EvalResult:
        known = {k: v for k, v in data.items() if k in cls.__dataclass_fields__}
        return cls(**known)


def render_slices(result: EvalResult) -> List[str]:
    """The guide's slice summary, one line per value, a blank line between keys::

    Sliced by [source]:
      source=human (n=2500): exact_match=0.6200, f1=0.7300
    """
    lines: List[str] = []
    for key, values in result.slices.items():
        if lines:
            lines.append("")
        lines.append(f"Sliced by [{key}]:")
        for value, stats in values.items():
            numbers = ", ".join(
                f"{name}={stats[name]:.4f}"
                for name in stats
                if name != "n" and isinstance(stats[name], (int, float))
            )
            lines.append(f"  {key}={value} (n={stats['n']}): {numbers}")
    return lines


__all__ = [
    "SCORES",
    "EvalResult",
    "Record",
    "build_records",
    "example_input",
    "render_slices",
    "score_records",
    "unseen_labels",
]
