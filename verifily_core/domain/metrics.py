"""Evaluation metrics: the per-example scores and the aggregates built from them.

Why per-example scores first: slicing by tags, hard examples, comparisons and bootstrap intervals
all need the score of every example, so each example is scored once (``exact_match``/``f1``/ROUGE
for SFT; the predicted and true label for classification) and every overall or per-slice number is
an aggregate over those columns. Aggregating is cheap; re-scoring strings per slice is not.

Definitions (documented for users in docs/metrics.md):

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
from dataclasses import dataclass
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
        out["rouge1"].append(scores["rouge1"].fmeasure)
        out["rougeL"].append(scores["rougeL"].fmeasure)
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


PairCounts = Counter[Tuple[str, str]]


def _pair_counts(y_true: Sequence[str], y_pred: Sequence[str]) -> PairCounts:
    if len(y_true) != len(y_pred):
        raise EvaluationError(f"{len(y_true)} true labels but {len(y_pred)} predictions.")
    if not y_true:
        raise EvaluationError("No examples to compute classification metrics on.")
    return Counter(zip(y_true, y_pred))


def _per_class(pairs: PairCounts, labels: Sequence[str]) -> Tuple[Dict[str, float], Dict[str, float]]:
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


def _seen_labels(pairs: PairCounts) -> List[str]:
    return sorted({lab for pair in pairs for lab in pair})


def accuracy(y_true: Sequence[str], y_pred: Sequence[str]) -> float:
    pairs = _pair_counts(y_true, y_pred)
    return sum(n for (t, p), n in pairs.items() if t == p) / len(y_true)


def macro_f1(y_true: Sequence[str], y_pred: Sequence[str]) -> float:
    """Unweighted mean F1 over the union of true and predicted labels (scikit-learn's default)."""
    pairs = _pair_counts(y_true, y_pred)
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
    pairs = _pair_counts(y_true, y_pred)
    order = _label_order(pairs, labels)
    return {"labels": order, "matrix": [[pairs.get((t, p), 0) for p in order] for t in order]}


def _label_order(pairs: PairCounts, labels: Optional[Sequence[str]]) -> List[str]:
    return sorted(set(labels or ()) | set(_seen_labels(pairs)))


# ---------------------------------------------------------------------------- registry

Columns = Mapping[str, Sequence[Any]]


@dataclass(frozen=True)
class MetricSpec:
    """How one metric is aggregated from per-example record columns.

    ``columns`` names the record fields it reads; ``scalar`` metrics are also computed per slice;
    ``aggregate(columns, labels)`` gets the columns of one group and the label order (classification).
    """

    name: str
    columns: Tuple[str, ...]
    scalar: bool
    aggregate: Callable[[Columns, Sequence[str]], Any]


def _mean_of(field: str) -> Callable[[Columns, Sequence[str]], float]:
    def aggregate(cols: Columns, _labels: Sequence[str]) -> float:
        values = cols[field]
        if not values:
            raise EvaluationError(f"No examples to compute {field} on.")
        return math.fsum(values) / len(values)

    return aggregate


def _labels_metric(fn: Callable[..., Any], with_order: bool) -> Callable[[Columns, Sequence[str]], Any]:
    def aggregate(cols: Columns, labels: Sequence[str]) -> Any:
        if with_order:
            return fn(cols["reference"], cols["prediction"], labels)
        return fn(cols["reference"], cols["prediction"])

    return aggregate


_LABEL_COLUMNS = ("reference", "prediction")
REGISTRY: Dict[str, Dict[str, MetricSpec]] = {
    "sft": {
        "exact_match": MetricSpec("exact_match", ("exact_match",), True, _mean_of("exact_match")),
        "f1": MetricSpec("f1", ("f1",), True, _mean_of("f1")),
        "perplexity": MetricSpec(
            "perplexity", ("nll_sum", "num_tokens"), True,
            lambda cols, _labels: _perplexity(math.fsum(cols["nll_sum"]), sum(cols["num_tokens"])),
        ),
        "rouge1": MetricSpec("rouge1", ("rouge1",), True, _mean_of("rouge1")),
        "rougeL": MetricSpec("rougeL", ("rougeL",), True, _mean_of("rougeL")),
    },
    "classification": {
        "accuracy": MetricSpec("accuracy", _LABEL_COLUMNS, True, _labels_metric(accuracy, False)),
        "macro_f1": MetricSpec("macro_f1", _LABEL_COLUMNS, True, _labels_metric(macro_f1, False)),
        "precision_per_class": MetricSpec(
            "precision_per_class", _LABEL_COLUMNS, False, _labels_metric(precision_per_class, True)),
        "recall_per_class": MetricSpec(
            "recall_per_class", _LABEL_COLUMNS, False, _labels_metric(recall_per_class, True)),
        "confusion_matrix": MetricSpec(
            "confusion_matrix", _LABEL_COLUMNS, False, _labels_metric(confusion_matrix, True)),
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
            hint="Pick metric names from the available list (--metrics exact_match,f1).",
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
    task: str, names: Sequence[str], columns: Columns, labels: Sequence[str] = ()
) -> Dict[str, Any]:
    """Every metric of ``names`` whose columns are present, from the columns of one group."""
    specs = _task_specs(task)
    return {
        n: specs[n].aggregate(columns, labels)
        for n in names
        if all(c in columns for c in specs[n].columns)
    }
