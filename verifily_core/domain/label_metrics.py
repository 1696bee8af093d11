"""Classification metrics, all finished from (true label, predicted label) pair counts.

Why counts: a slice, the whole test set and a bootstrap resample are all summarised the same way
(``slicing.PredictionTable`` counts the pairs of each group in one pass), so every metric here is a
function of those counts; the ``y_true``/``y_pred`` forms count first. Defined as scikit-learn
defines them: ``macro_f1`` averages over the union of true and predicted labels; per-class
precision/recall are 0.0 where undefined (its ``zero_division``); the confusion matrix has true
labels as rows and predicted labels as columns.
"""

from __future__ import annotations

import math
from collections import Counter
from typing import Any, Dict, List, Mapping, Optional, Sequence, Tuple

from verifily_core.errors import EvaluationError

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
    return accuracy_of(_pair_counts(y_true, y_pred))


def accuracy_of(pairs: Pairs) -> float:
    return sum(n for (t, p), n in pairs.items() if t == p) / sum(pairs.values())


def macro_f1(y_true: Sequence[str], y_pred: Sequence[str]) -> float:
    """Unweighted mean F1 over the union of true and predicted labels (scikit-learn's default)."""
    return macro_f1_of(_pair_counts(y_true, y_pred))


def macro_f1_of(pairs: Pairs) -> float:
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
    return precision_of(_pair_counts(y_true, y_pred), labels or ())


def recall_per_class(
    y_true: Sequence[str], y_pred: Sequence[str], labels: Optional[Sequence[str]] = None
) -> Dict[str, float]:
    """Recall keyed by label; ``labels`` defaults to the sorted union of true and predicted."""
    return recall_of(_pair_counts(y_true, y_pred), labels or ())


def confusion_matrix(
    y_true: Sequence[str], y_pred: Sequence[str], labels: Optional[Sequence[str]] = None
) -> Dict[str, Any]:
    """``{"labels": order, "matrix": rows}``; rows are true labels, columns predicted (as sklearn).

    The order is the sorted union of ``labels`` (typically the training labels) and every label
    seen in ``y_true``/``y_pred``, so that an unseen test label still gets its row.
    """
    return matrix_of(_pair_counts(y_true, y_pred), labels or ())


def precision_of(pairs: Pairs, labels: Sequence[str]) -> Dict[str, float]:
    """Precision of every label of :func:`label_order`, from pair counts."""
    return _per_class(pairs, label_order(pairs, labels))[0]


def recall_of(pairs: Pairs, labels: Sequence[str]) -> Dict[str, float]:
    """Recall of every label of :func:`label_order`, from pair counts."""
    return _per_class(pairs, label_order(pairs, labels))[1]


def label_order(pairs: Pairs, labels: Optional[Sequence[str]]) -> List[str]:
    """The sorted union of ``labels`` and every label seen in the pairs."""
    return sorted(set(labels or ()) | set(_seen_labels(pairs)))


def matrix_of(pairs: Pairs, labels: Sequence[str]) -> Dict[str, Any]:
    """The confusion matrix of :func:`confusion_matrix`, from pair counts."""
    order = label_order(pairs, labels)
    return {"labels": order, "matrix": [[pairs.get((t, p), 0) for p in order] for t in order]}
