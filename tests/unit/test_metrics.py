"""Metrics against independent oracles: a SQuAD v1.1 reference written here, rouge-score called
directly, scikit-learn for every classification metric, and perplexity by hand."""

from __future__ import annotations

import logging
import math
import re
import string
import sys
from collections import Counter

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from sklearn import metrics as skm

from verifily_core.domain import label_metrics as lm
from verifily_core.domain import metrics as m
from verifily_core.domain.training import TokenLoss
from verifily_core.errors import EvaluationError

# ---------------------------------------------------------------- SQuAD v1.1 oracle (official script)


def _ref_normalize(s: str) -> str:
    def remove_articles(text: str) -> str:
        return re.sub(r"\b(a|an|the)\b", " ", text)

    def white_space_fix(text: str) -> str:
        return " ".join(text.split())

    def remove_punc(text: str) -> str:
        exclude = set(string.punctuation)
        return "".join(ch for ch in text if ch not in exclude)

    return white_space_fix(remove_articles(remove_punc(s.lower())))


def _ref_f1(prediction: str, ground_truth: str) -> float:
    p = _ref_normalize(prediction).split()
    g = _ref_normalize(ground_truth).split()
    num_same = sum((Counter(p) & Counter(g)).values())
    if num_same == 0:
        return 0.0
    precision, recall = num_same / len(p), num_same / len(g)
    return (2 * precision * recall) / (precision + recall)


@pytest.mark.parametrize(
    ("prediction", "reference", "em", "f1"),
    [
        ("The Cat!", "cat", 1.0, 1.0),  # case, article, punctuation
        ("a cat sat", "the cat sat down", 0.0, 0.8),  # P = 1, R = 2/3
        ("cat cat", "cat", 0.0, 2 / 3),  # multisets: one shared 'cat'
        ("  hello \t  world\n", "hello world", 1.0, 1.0),  # white space collapsed
        ("U.S.A.", "USA", 1.0, 1.0),  # punctuation inside a token
        ("theater", "ater", 0.0, 0.0),  # articles only as whole words
        ("An apple, an orange", "apple orange", 1.0, 1.0),
        ("blue", "red", 0.0, 0.0),
        ("", "the", 1.0, 0.0),  # both empty: EM 1, F1 0 as in v1.1
    ],
)
def test_squad_hand_computed_cases(prediction: str, reference: str, em: float, f1: float) -> None:
    assert m.exact_match(prediction, reference) == em
    assert m.token_f1(prediction, reference) == pytest.approx(f1)


_words = st.lists(
    st.sampled_from(["the", "a", "an", "Cat", "cat.", "dog", "DOG!", "sat", "on", "mat,", "42", "—", "it's"]),
    max_size=8,
).map(" ".join)


@settings(max_examples=300, deadline=None)
@given(_words, _words)
def test_squad_matches_the_official_definition(prediction: str, reference: str) -> None:
    assert m.normalize_answer(prediction) == _ref_normalize(prediction)
    same = _ref_normalize(prediction) == _ref_normalize(reference)
    assert m.exact_match(prediction, reference) == float(same)
    assert m.token_f1(prediction, reference) == pytest.approx(_ref_f1(prediction, reference))


# ---------------------------------------------------------------- ROUGE


def test_rouge_equals_rouge_score_with_stemming() -> None:
    from rouge_score import rouge_scorer

    preds = ["the cats are running home", "a quick brown fox", "nothing in common"]
    refs = ["the cat runs home", "the quick brown fox jumps", "zebra"]
    scorer = rouge_scorer.RougeScorer(["rouge1", "rougeL"], use_stemmer=True)
    got = m.rouge_scores(preds, refs)
    assert got is not None
    for i, (p, r) in enumerate(zip(preds, refs)):
        want = scorer.score(r, p)
        assert got["rouge1"][i] == pytest.approx(want["rouge1"].fmeasure)
        assert got["rougeL"][i] == pytest.approx(want["rougeL"].fmeasure)
    assert got["rouge1"][0] > 0.5  # stemming: cats/cat and running/runs share stems


def test_rouge_missing_is_logged_and_skipped(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    monkeypatch.setitem(sys.modules, "rouge_score", None)  # makes the import fail
    with caplog.at_level(logging.WARNING, logger="verifily"):
        assert m.rouge_scores(["a"], ["b"]) is None
    assert [r.getMessage() for r in caplog.records] == ["rouge-score not installed, skipping ROUGE metrics"]


# ---------------------------------------------------------------- perplexity


def test_perplexity_is_token_weighted() -> None:
    losses = [TokenLoss(nll_sum=1.0, num_tokens=1), TokenLoss(nll_sum=9.0, num_tokens=3)]
    assert m.perplexity(losses) == pytest.approx(math.exp(10.0 / 4))
    mean_of_ppl = (math.exp(1.0) + math.exp(3.0)) / 2
    assert m.perplexity(losses) != pytest.approx(mean_of_ppl)


def test_perplexity_without_tokens_is_an_error() -> None:
    with pytest.raises(EvaluationError, match="token"):
        m.perplexity([TokenLoss(0.0, 0)])


# ---------------------------------------------------------------- classification vs scikit-learn

_labels = st.sampled_from(["neg", "pos", "neutral", "other"])
_pairs = st.lists(st.tuples(_labels, _labels), min_size=1, max_size=60)


@pytest.mark.filterwarnings("ignore:A single label was found:UserWarning")
@settings(max_examples=200, deadline=None)
@given(_pairs, st.lists(_labels, max_size=4))
def test_classification_metrics_match_sklearn(pairs: list[tuple[str, str]], train_labels: list[str]) -> None:
    y_true = [t for t, _ in pairs]
    y_pred = [p for _, p in pairs]
    union = sorted(set(y_true) | set(y_pred))
    order = sorted(set(union) | set(train_labels))

    assert lm.accuracy(y_true, y_pred) == pytest.approx(skm.accuracy_score(y_true, y_pred))
    assert lm.macro_f1(y_true, y_pred) == pytest.approx(
        skm.f1_score(y_true, y_pred, average="macro", zero_division=0)
    )
    for ours, labels, theirs in (
        (
            lm.precision_per_class(y_true, y_pred),
            union,
            skm.precision_score(y_true, y_pred, labels=union, average=None, zero_division=0),
        ),
        (
            lm.precision_per_class(y_true, y_pred, train_labels),
            order,
            skm.precision_score(y_true, y_pred, labels=order, average=None, zero_division=0),
        ),
        (
            lm.recall_per_class(y_true, y_pred, train_labels),
            order,
            skm.recall_score(y_true, y_pred, labels=order, average=None, zero_division=0),
        ),
    ):
        assert list(ours) == labels
        assert list(ours.values()) == pytest.approx(list(theirs))
    cm = lm.confusion_matrix(y_true, y_pred, train_labels)
    assert cm["labels"] == order
    assert cm["matrix"] == skm.confusion_matrix(y_true, y_pred, labels=order).tolist()


def test_classification_metrics_reject_mismatched_or_empty_inputs() -> None:
    with pytest.raises(EvaluationError, match="2 true labels but 1"):
        lm.accuracy(["a", "b"], ["a"])
    with pytest.raises(EvaluationError, match="No examples"):
        lm.macro_f1([], [])


# ---------------------------------------------------------------- registry


def test_available_and_default_metrics_follow_the_guide() -> None:
    assert m.available_metrics("sft") == ["exact_match", "f1", "perplexity", "rouge1", "rougeL"]
    assert m.available_metrics("classification") == [
        "accuracy",
        "macro_f1",
        "precision_per_class",
        "recall_per_class",
        "confusion_matrix",
    ]
    assert m.default_metrics("sft") == m.available_metrics("sft")
    every = m.available_metrics("classification")
    assert m.scalar_metrics("classification", every) == ["accuracy", "macro_f1"]


def test_check_metrics_dedups_and_names_unknown_ones_with_the_available_list() -> None:
    assert m.check_metrics("sft", ["f1", " exact_match", "f1"]) == ["f1", "exact_match"]
    with pytest.raises(EvaluationError) as err:
        m.check_metrics("sft", ["exact_match", "bogus_metric", "accuracy"])
    text = str(err.value)
    assert "bogus_metric, accuracy" in text
    assert "Available: exact_match, f1, perplexity, rouge1, rougeL" in text
    with pytest.raises(EvaluationError, match="No metric requested"):
        m.check_metrics("classification", [" "])
    with pytest.raises(EvaluationError, match="Unknown task 'regression'"):
        m.available_metrics("regression")


def test_aggregate_finishes_metrics_from_group_statistics_and_skips_what_is_absent() -> None:
    stats = m.GroupStats(n=2, sums={"exact_match": 1.0, "f1": 1.5, "nll_sum": 4.0, "num_tokens": 4.0})
    got = m.aggregate("sft", ["exact_match", "f1", "perplexity", "rouge1"], stats)
    assert got == pytest.approx({"exact_match": 0.5, "f1": 0.75, "perplexity": math.exp(1.0)})
    pairs = {("pos", "pos"): 2, ("pos", "neg"): 1, ("neg", "neg"): 1}
    cls = m.aggregate("classification", ["accuracy", "confusion_matrix"], m.GroupStats(4, pairs=pairs), ["x"])
    assert cls["accuracy"] == pytest.approx(0.75)
    assert cls["confusion_matrix"] == {
        "labels": ["neg", "pos", "x"],
        "matrix": [[1, 0, 0], [1, 2, 0], [0, 0, 0]],
    }
    assert m.aggregate("classification", ["accuracy"], m.GroupStats(4)) == {}
