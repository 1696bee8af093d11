"""Evaluation metrics: the per-example scores and the aggregates built from them.

Why per-example scores first: slicing by tags, hard examples, comparisons and bootstrap intervals
all need the score of every example, so each example is scored once (``exact_match``/``f1``/ROUGE
for SFT; the predicted and true label for classification) and every overall or per-slice number is
an aggregate over those columns. Aggregating is cheap; re-scoring strings per slice is not.

Definitions (the user docs must state the same):

* ``exact_match``, ``f1``: the official SQuAD v1.1 evaluation script. Both sides are normalised
  (lower case, ASCII punctuation removed, the articles a/an/the removed, white space collapsed);
  F1 is over the multisets of normalised tokens. As in v1.1, F1 is 0 when the two sides share no
  token, which includes the case where both normalise to nothing (whose exact match is 1).
* ``perplexity``: ``exp(sum of reference-token NLL / number of reference tokens)`` over the whole
  set, i.e. token-weighted, not a mean of per-example perplexities.
* ``rouge1``, ``rougeL``: rouge-score F-measures with Porter stemming (optional dependency).
* Classification: as scikit-learn. ``macro_f1`` averages over the union of true and predicted
  labels; per-class precision/recall are 0.0 where undefined (scikit-learn's ``zero_division``
  value); the confusion matrix has true labels as rows and predicted labels as columns.
"""

from __future__ import annotations

import logging
import math
import re
import string
from collections import Counter
from dataclasses import dataclass, field
from typing import Any, Callable, Dict, Iterable, List, Mapping, Optional, Sequence, Tuple

from verifily_core.domain.training import TokenLoss
from verifily_core.errors import EvaluationError

logger = logging.getLogger("verifily")

ROUGE_MISSING = "rouge-score not installed, skipping ROUGE metrics"
_PUNCT = frozenset(string.punctuation)
_ARTICLES = re.compile(r"\b(a|an|the)\b")

# ---------------------------------------------------------------------------- SFT, per example


def normalize_answer(text: str) -> str:
    """SQuAD v1.1 ``normalize_answer``: lower, drop punctuation, drop articles, collapse spaces."""
    text = "".join(ch for ch in text.lower() if ch not in _PUNCT)
    return " ".join(_ARTICLES.sub(" ", text).split())


def exact_match(prediction: str, reference: str) -> float:
    """1.0 when both sides normalise to the same string, else 0.0."""
    return float(normalize_answer(prediction) == normalize_answer(reference))


def token_f1(prediction: str, reference: str) -> float:
    """SQuAD v1.1 token F1 over the multisets of normalised tokens (0.0 when none is shared)."""
    pred_tokens = normalize_answer(prediction).split()
    ref_tokens = normalize_answer(reference).split()
    same = sum((Counter(pred_tokens) & Counter(ref_tokens)).values())
    if same == 0:
        return 0.0
    precision = same / len(pred_tokens)
    recall = same / len(ref_tokens)
    return 2 * precision * recall / (precision + recall)


def rouge_scores(predictions: Sequence[str], references: Sequence[str]) -> Optional[Dict[str, List[float]]]:
    """Per-example ROUGE-1 and ROUGE-L F-measures, or None (logged) when rouge-score is missing.

    rouge-score is an optional extra, so it is imported here rather than at module import.
    """
    try:
        from rouge_score import rouge_scorer  # type: ignore[import-untyped]
    except ImportError:
        logger.warning(ROUGE_MISSING)
        return None
    scorer = rouge_scorer.RougeScorer(["rouge1", "rougeL"], use_stemmer=True)
    out: Dict[str, List[float]] = {"rouge1": [], "rougeL": []}
    for pred, ref in zip(predictions, references):
        scores = scorer.score(ref, pred)  # rouge-score's order: (target, prediction)
        out["rouge1"].append(float(scores["rouge1"].fmeasure))  # rouge-score gives int 0 when nothing matches
        out["rougeL"].append(float(scores["rougeL"].fmeasure))
    return out


def perplexity(token_losses: Iterable[TokenLoss]) -> float:
    """Token-weighted perplexity over a set of teacher-forced reference losses."""
    nll, tokens = 0.0, 0
    for loss in token_losses:
        nll += loss.nll_sum
        tokens += loss.num_tokens
    return _perplexity(nll, tokens)


def _perplexity(nll_sum: float, num_tokens: int) -> float:
    if num_tokens <= 0:
        raise EvaluationError("Perplexity needs at least one reference token, got none.")
    return math.exp(nll_sum / num_tokens)


# ---------------------------------------------------------------------------- classification


Pairs = Mapping[Tuple[str, str], int]


def _pair_counts(y_true: Sequence[str], y_pred: Sequence[str]) -> Pairs:
    if len(y_true) != len(y_pred):
        raise EvaluationError(f"{len(y_true)} true labels but {len(y_pred)} predictions.")
    if not y_true:
        raise EvaluationError("No examples to compute classification metrics on.")
    return Counter(zip(y_true, y_pred))


def _per_class(pairs: Pairs, labels: Sequence[str]) -> Tuple[Dict[str, float], Dict[str, float]]:
    """Precision and recall of every label in ``labels`` from (true, predicted) pair counts."""
    hits: Counter[str] = Counter()
    true_n: Counter[str] = Counter()
    pred_n: Counter[str] = Counter()
    for (t, p), n in pairs.items():
        true_n[t] += n
        pred_n[p] += n
        if t == p:
            hits[t] += n
    precision = {lab: hits[lab] / pred_n[lab] if pred_n[lab] else 0.0 for lab in labels}
    recall = {lab: hits[lab] / true_n[lab] if true_n[lab] else 0.0 for lab in labels}
    return precision, recall


def _seen_labels(pairs: Pairs) -> List[str]:
    return sorted({lab for pair in pairs for lab in pair})


def accuracy(y_true: Sequence[str], y_pred: Sequence[str]) -> float:
    return _accuracy_of(_pair_counts(y_true, y_pred))


def _accuracy_of(pairs: Pairs) -> float:
    return sum(n for (t, p), n in pairs.items() if t == p) / sum(pairs.values())


def macro_f1(y_true: Sequence[str], y_pred: Sequence[str]) -> float:
    """Unweighted mean F1 over the union of true and predicted labels (scikit-learn's default)."""
    return _macro_f1_of(_pair_counts(y_true, y_pred))


def _macro_f1_of(pairs: Pairs) -> float:
    labels = _seen_labels(pairs)
    precision, recall = _per_class(pairs, labels)
    f1s = [_f1(precision[lab], recall[lab]) for lab in labels]
    return math.fsum(f1s) / len(f1s)


def _f1(precision: float, recall: float) -> float:
    return 2 * precision * recall / (precision + recall) if precision + recall else 0.0


def precision_per_class(
    y_true: Sequence[str], y_pred: Sequence[str], labels: Optional[Sequence[str]] = None
) -> Dict[str, float]:
    """Precision keyed by label; ``labels`` defaults to the sorted union of true and predicted."""
    pairs = _pair_counts(y_true, y_pred)
    return _per_class(pairs, _label_order(pairs, labels))[0]


def recall_per_class(
    y_true: Sequence[str], y_pred: Sequence[str], labels: Optional[Sequence[str]] = None
) -> Dict[str, float]:
    """Recall keyed by label; ``labels`` defaults to the sorted union of true and predicted."""
    pairs = _pair_counts(y_true, y_pred)
    return _per_class(pairs, _label_order(pairs, labels))[1]


def confusion_matrix(
    y_true: Sequence[str], y_pred: Sequence[str], labels: Optional[Sequence[str]] = None
) -> Dict[str, Any]:
    """``{"labels": order, "matrix": rows}``; rows are true labels, columns predicted (as sklearn).

    The order is the sorted union of ``labels`` (typically the training labels) and every label
    seen in ``y_true``/``y_pred``, so that an unseen test label still gets its row.
    """
    return _matrix_of(_pair_counts(y_true, y_pred), labels or ())


def _label_order(pairs: Pairs, labels: Optional[Sequence[str]]) -> List[str]:
    return sorted(set(labels or ()) | set(_seen_labels(pairs)))


# ---------------------------------------------------------------------------- registry


@dataclass(frozen=True)
class GroupStats:
    """What every metric of a group of examples is computed from, so that groups (overall, one
    slice value) are summarised in one pass and then finished here.

    ``sums`` holds the sum of each numeric per-example field over the group; ``pairs`` the
    (true label, predicted label) counts for classification.
    """

    n: int
    sums: Mapping[str, float] = field(default_factory=dict)
    pairs: Optional[Pairs] = None


@dataclass(frozen=True)
class MetricSpec:
    """How one metric is finished from a group's statistics.

    ``fields`` are the per-example numeric fields it needs summed; ``pairs`` whether it needs the
    label pair counts; ``scalar`` metrics are also computed per slice; ``finish(stats, labels)``
    gets the group's statistics and the label order (classification).
    """

    name: str
    fields: Tuple[str, ...]
    pairs: bool
    scalar: bool
    finish: Callable[[GroupStats, Sequence[str]], Any]


def _mean_of(name: str) -> MetricSpec:
    return MetricSpec(name, (name,), False, True, lambda st, _labels: st.sums[name] / st.n)


def _from_pairs(name: str, scalar: bool, fn: Callable[[Pairs], Any]) -> MetricSpec:
    return MetricSpec(name, (), True, scalar, lambda st, _labels: fn(st.pairs or {}))


def _per_label(name: str, fn: Callable[[Pairs, Sequence[str]], Any]) -> MetricSpec:
    return MetricSpec(name, (), True, False, lambda st, labels: fn(st.pairs or {}, labels))


def _matrix_of(pairs: Pairs, labels: Sequence[str]) -> Dict[str, Any]:
    order = _label_order(pairs, labels)
    return {"labels": order, "matrix": [[pairs.get((t, p), 0) for p in order] for t in order]}


REGISTRY: Dict[str, Dict[str, MetricSpec]] = {
    "sft": {
        "exact_match": _mean_of("exact_match"),
        "f1": _mean_of("f1"),
        "perplexity": MetricSpec(
            "perplexity",
            ("nll_sum", "num_tokens"),
            False,
            True,
            lambda st, _labels: _perplexity(st.sums["nll_sum"], int(st.sums["num_tokens"])),
        ),
        "rouge1": _mean_of("rouge1"),
        "rougeL": _mean_of("rougeL"),
    },
    "classification": {
        "accuracy": _from_pairs("accuracy", True, _accuracy_of),
        "macro_f1": _from_pairs("macro_f1", True, _macro_f1_of),
        "precision_per_class": _per_label(
            "precision_per_class", lambda pairs, labels: _per_class(pairs, _label_order(pairs, labels))[0]
        ),
        "recall_per_class": _per_label(
            "recall_per_class", lambda pairs, labels: _per_class(pairs, _label_order(pairs, labels))[1]
        ),
        "confusion_matrix": _per_label("confusion_matrix", _matrix_of),
    },
}
TEXT_METRICS = frozenset({"exact_match", "f1", "rouge1", "rougeL"})
ROUGE_METRICS = frozenset({"rouge1", "rougeL"})


def _task_specs(task: str) -> Dict[str, MetricSpec]:
    try:
        return REGISTRY[task]
    except KeyError:
        raise EvaluationError(
            f"Unknown task {task!r}: metrics exist for {', '.join(sorted(REGISTRY))}."
        ) from None


def available_metrics(task: str) -> List[str]:
    """Every metric name of a task, in the guide's order."""
    return list(_task_specs(task))


def default_metrics(task: str) -> List[str]:
    """The metrics computed when none are asked for (the guide: all of the task's metrics)."""
    return available_metrics(task)


def check_metrics(task: str, names: Sequence[str]) -> List[str]:
    """The requested names without duplicates, in order; EvaluationError naming unknown ones."""
    specs = _task_specs(task)
    wanted = list(dict.fromkeys(n.strip() for n in names if n.strip()))
    unknown = [n for n in wanted if n not in specs]
    available = ", ".join(specs)
    if unknown:
        raise EvaluationError(
            f"Unknown metric(s) for task {task}: {', '.join(unknown)}. Available: {available}.",
            hint=f"Pick metric names from the available list (--metrics {','.join(list(specs)[:2])}).",
        )
    if not wanted:
        raise EvaluationError(f"No metric requested. Available for task {task}: {available}.")
    return wanted


def metric_spec(task: str, name: str) -> MetricSpec:
    return _task_specs(task)[name]


def scalar_metrics(task: str, names: Sequence[str]) -> List[str]:
    """The subset of ``names`` that is one number (and so is computed per slice)."""
    specs = _task_specs(task)
    return [n for n in names if specs[n].scalar]


def aggregate(
    task: str, names: Sequence[str], stats: GroupStats, labels: Sequence[str] = ()
) -> Dict[str, Any]:
    """Every metric of ``names`` that the group's statistics can give (the others are skipped:
    their per-example scores were not computed, e.g. ROUGE without rouge-score)."""
    specs = _task_specs(task)
    out: Dict[str, Any] = {}
    for name in names:
        spec = specs[name]
        if all(f in stats.sums for f in spec.fields) and (not spec.pairs or stats.pairs is not None):
            out[name] = spec.finish(stats, labels)
    return out
