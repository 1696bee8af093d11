"""Evaluation metrics: one registry (:data:`METRICS`) of :class:`MetricSpec` entries, and the SFT scores.

Why one registry: evaluation (which model outputs to compute, which per-example scores to fill),
slices, comparisons (default metric, direction), tuning, attribution and the metric table of
docs/evaluation.md all read the entry of a metric, so adding one is one entry (plus its test and
its doc row) and a metric cannot be known to one of them and forgotten by another.

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
* Classification: as scikit-learn, from label pair counts (``domain.label_metrics``).
"""

from __future__ import annotations

import logging
import math
import re
import string
from collections import Counter
from dataclasses import dataclass, field
from typing import Any, Callable, Dict, FrozenSet, Iterable, List, Literal, Mapping, Optional, Sequence, Tuple

from verifily_core.domain import label_metrics as lm
from verifily_core.domain.label_metrics import Pairs
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


# ---------------------------------------------------------------------------- the registry

SFT = "sft"
CLASSIFICATION = "classification"
# The model outputs a metric can need; evaluation computes only those its metrics name.
GENERATE = "generate"  # generated answers (SFT)
REFERENCE_LOSS = "reference_loss"  # teacher-forced NLL of the reference tokens (SFT)
CLASSIFY = "classify"  # the predicted label and label probabilities (classification)
INPUTS = (CLASSIFY, GENERATE, REFERENCE_LOSS)


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


BatchScore = Callable[[Sequence[str], Sequence[str]], Optional[Dict[str, List[float]]]]


@dataclass(frozen=True)
class Scorer:
    """Fills per-example ``scores`` fields of generated rows from (predictions, references).

    ``score`` returns ``{field: one value per row}`` or None when it cannot run (a missing optional
    dependency, already logged). One scorer may fill several fields in one pass, and the metrics
    built on them share it: ROUGE-1 and ROUGE-L share one tokenisation, and asking for either
    writes both. ``always``: filled for every generated row, asked for or not, because other
    readers rely on it (hard examples rank by ``f1``; ``predictions.jsonl`` always has EM and F1).
    """

    fields: Tuple[str, ...]
    score: BatchScore
    always: bool = False


def per_example(name: str, fn: Callable[[str, str], float], *, always: bool = False) -> Scorer:
    """A scorer of one field computed row by row as ``fn(prediction, reference)``."""

    def score(predictions: Sequence[str], references: Sequence[str]) -> Dict[str, List[float]]:
        return {name: [fn(p, r) for p, r in zip(predictions, references)]}

    return Scorer((name,), score, always)


ROUGE = Scorer(("rouge1", "rougeL"), rouge_scores)
Aggregate = Callable[[GroupStats, Sequence[str]], Any]
# How bootstrap intervals recompute a metric on many resamples at once (``domain.significance``):
# the mean of its field, exp(sum / sum) of its two fields, or accuracy / macro F1 from label pairs.
Resample = Literal["mean", "exp_ratio", "accuracy", "macro_f1"]


@dataclass(frozen=True)
class MetricSpec:
    """One metric: everything evaluation, slices, comparisons, tuning and the docs know about it.

    ``aggregate(stats, labels)`` finishes the metric from a group's statistics (``labels`` is the
    label order, for classification); ``fields`` are the per-example numeric fields it needs summed,
    which its ``scorer`` fills from the generated text (None for metrics that are only aggregate:
    the model gives ``nll_sum`` itself, label metrics count pairs); ``pairs`` whether it needs the
    label pair counts; ``needs`` the model outputs it reads (:data:`INPUTS`); ``scalar`` metrics are
    one number, so they are also computed per slice and can be compared; ``lower_is_better`` flips
    the sense of a delta;
    ``primary`` marks the task's default metric for compare, tune and attribute; ``aliases`` are
    other names ``--metric`` accepts for it; ``description`` is its line in docs/evaluation.md;
    ``resample`` its vectorised form for bootstrap intervals (None: no intervals, never a guess).
    """

    name: str
    tasks: Tuple[str, ...]
    aggregate: Aggregate
    scorer: Optional[Scorer]
    needs: FrozenSet[str]
    description: str
    fields: Tuple[str, ...] = ()
    pairs: bool = False
    scalar: bool = True
    lower_is_better: bool = False
    primary: bool = False
    aliases: Tuple[str, ...] = ()
    resample: Optional[Resample] = None


def mean_metric(name: str, scorer: Scorer, description: str, *, primary: bool = False) -> MetricSpec:
    """An SFT metric that is the mean of a per-example score of the generated answer."""
    return MetricSpec(
        name,
        (SFT,),
        lambda st, _labels: st.sums[name] / st.n,
        scorer,
        frozenset({GENERATE}),
        description,
        fields=(name,),
        primary=primary,
        resample="mean",
    )


def _from_pairs(
    name: str, fn: Callable[[Pairs, Sequence[str]], Any], description: str, *, scalar: bool = True, **kw: Any
) -> MetricSpec:
    """A classification metric finished from the (true, predicted) label pair counts."""
    return MetricSpec(
        name,
        (CLASSIFICATION,),
        lambda st, labels: fn(st.pairs or {}, labels),
        None,
        frozenset({CLASSIFY}),
        description,
        pairs=True,
        scalar=scalar,
        **kw,
    )


# Adding a metric is one entry here (plus its test and its row in docs/evaluation.md's table).
METRICS: Tuple[MetricSpec, ...] = (
    mean_metric(
        "exact_match",
        per_example("exact_match", exact_match, always=True),
        "share of answers equal to the reference after SQuAD v1.1 normalisation",
    ),
    mean_metric(
        "f1",
        per_example("f1", token_f1, always=True),
        "mean SQuAD v1.1 token F1 of answer and reference",
        primary=True,
    ),
    MetricSpec(
        "perplexity",
        (SFT,),
        lambda st, _labels: _perplexity(st.sums["nll_sum"], int(st.sums["num_tokens"])),
        None,
        frozenset({REFERENCE_LOSS}),
        "exp(reference-token NLL / reference tokens) over the set, teacher-forced",
        fields=("nll_sum", "num_tokens"),
        lower_is_better=True,
        resample="exp_ratio",
    ),
    mean_metric("rouge1", ROUGE, "mean ROUGE-1 F-measure (rouge-score, Porter stemming)"),
    mean_metric("rougeL", ROUGE, "mean ROUGE-L F-measure (rouge-score, Porter stemming)"),
    _from_pairs(
        "accuracy",
        lambda pairs, _l: lm.accuracy_of(pairs),
        "share of rows given their true label",
        resample="accuracy",
    ),
    _from_pairs(
        "macro_f1",
        lambda pairs, _l: lm.macro_f1_of(pairs),
        "macro F1: the mean F1 over classes",
        primary=True,
        aliases=("f1",),
        resample="macro_f1",
    ),
    _from_pairs(
        "precision_per_class",
        lm.precision_of,
        "precision of each label (0.0 where undefined)",
        scalar=False,
    ),
    _from_pairs(
        "recall_per_class",
        lm.recall_of,
        "recall of each label (0.0 where undefined)",
        scalar=False,
    ),
    _from_pairs(
        "confusion_matrix",
        lm.matrix_of,
        "counts with true labels as rows, predicted as columns, and their label order",
        scalar=False,
    ),
)


def registry() -> Dict[str, Dict[str, MetricSpec]]:
    """``{task: {name: spec}}`` in :data:`METRICS` order, built from it on every call (a handful of
    entries), so that nothing derived can go stale; a name registered twice for a task is an error."""
    out: Dict[str, Dict[str, MetricSpec]] = {}
    for spec in METRICS:
        for task in spec.tasks:
            if spec.name in out.setdefault(task, {}):
                raise EvaluationError(f"Metric {spec.name!r} is registered twice for task {task}.")
            out[task][spec.name] = spec
    return out


def _task_specs(task: str) -> Dict[str, MetricSpec]:
    specs = registry()
    try:
        return specs[task]
    except KeyError:
        raise EvaluationError(
            f"Unknown task {task!r}: metrics exist for {', '.join(sorted(specs))}."
        ) from None


def find_spec(task: str, name: str) -> Optional[MetricSpec]:
    """The spec of ``name`` for ``task``, or None (an unknown task or metric)."""
    return registry().get(task, {}).get(name)


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


def needed_inputs(task: str, names: Sequence[str]) -> Dict[str, bool]:
    """Which model outputs (:data:`INPUTS`) the metrics ``names`` of ``task`` read."""
    specs = _task_specs(task)
    used = {i for n in names for i in specs[n].needs}
    return {i: i in used for i in INPUTS}


def scorers(task: str, names: Sequence[str]) -> List[Tuple[Scorer, Tuple[str, ...]]]:
    """The per-example scorers to run for ``names``, each once, in registry order, with the fields
    wanted of it: all of an ``always`` scorer's, else those the requested metrics sum."""
    wanted: Dict[Scorer, Dict[str, None]] = {}
    for name, spec in _task_specs(task).items():
        if spec.scorer is not None and (spec.scorer.always or name in names):
            fields = spec.scorer.fields if spec.scorer.always else spec.fields
            wanted.setdefault(spec.scorer, {}).update(dict.fromkeys(fields))
    return [(scorer, tuple(fields)) for scorer, fields in wanted.items()]


def score_fields() -> FrozenSet[str]:
    """Every per-example field that lives under a record's ``scores`` (what metrics sum)."""
    return frozenset(f for spec in METRICS for f in spec.fields)


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
            out[name] = spec.aggregate(stats, labels)
    return out
