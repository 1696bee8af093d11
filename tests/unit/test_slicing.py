"""Slices, hard examples, records and EvalResult: every aggregate is checked against a plain
recomputation from the strings (SQuAD functions) or scikit-learn, group by group."""

from __future__ import annotations

import math
from typing import Any, Dict, List, Tuple

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from sklearn import metrics as skm

from verifily_core.domain import metrics as m
from verifily_core.domain.evaluation import (
    GUIDE_KEYS,
    EvalResult,
    build_records,
    render_slices,
    score_records,
    unseen_labels,
)
from verifily_core.domain.examples import ClassificationExample, SFTExample
from verifily_core.domain.slicing import MISSING, hard_examples, overall_metrics, slice_metrics, slice_value
from verifily_core.domain.training import ClassPrediction, TokenLoss
from verifily_core.errors import EvaluationError

ANSWERS = [  # (reference, prediction, tags)
    ("paris", "Paris.", {"source": "human", "difficulty": "easy"}),
    ("the red fox", "a red dog", {"source": "synthetic", "difficulty": "hard"}),
    ("42", "forty two", {"source": "human", "difficulty": "hard"}),
    ("blue sky", "blue", {"source": "synthetic"}),
    ("yes", "yes", {"source": "human", "difficulty": None, "_source_dataset": "set_b"}),
    (
        "one two three",
        "three two one",
        {"source": "synthetic", "difficulty": "easy", "_source_dataset": "set_a"},
    ),
]


def _sft_records() -> List[Dict[str, Any]]:
    examples = [SFTExample(f"q{i}", ref, tags=tags) for i, (ref, _, tags) in enumerate(ANSWERS)]
    losses = [TokenLoss(nll_sum=float(i + 1), num_tokens=i + 2) for i in range(len(ANSWERS))]
    records = build_records(examples, predictions=[p for _, p, _ in ANSWERS], losses=losses)
    score_records(records, "sft", ["exact_match", "f1", "perplexity", "rouge1", "rougeL"])
    return records


def _oracle(rows: List[int]) -> Dict[str, Any]:
    em = [m.exact_match(ANSWERS[i][1], ANSWERS[i][0]) for i in rows]
    f1 = [m.token_f1(ANSWERS[i][1], ANSWERS[i][0]) for i in rows]
    nll = sum(float(i + 1) for i in rows)
    tokens = sum(i + 2 for i in rows)
    return {
        "n": len(rows),
        "exact_match": sum(em) / len(rows),
        "f1": sum(f1) / len(rows),
        "perplexity": math.exp(nll / tokens),
    }


def _assert_slices(got: Dict[str, Dict[str, Any]], want: Dict[str, Dict[str, Any]]) -> None:
    assert list(got) == list(want)  # same values in the same order
    for value, stats in want.items():
        assert got[value] == pytest.approx(stats)


def test_sft_slices_equal_a_recomputation_per_group_with_missing_last() -> None:
    records = _sft_records()
    table = slice_metrics(
        records,
        ["source", "difficulty", "_source_dataset"],
        task="sft",
        metrics=["exact_match", "f1", "perplexity"],
    )
    _assert_slices(table["source"], {"human": _oracle([0, 2, 4]), "synthetic": _oracle([1, 3, 5])})
    # first-appearance order; rows without the key or with a null value in '(missing)', last
    _assert_slices(
        table["difficulty"], {"easy": _oracle([0, 5]), "hard": _oracle([1, 2]), MISSING: _oracle([3, 4])}
    )
    _assert_slices(
        table["_source_dataset"],
        {"set_b": _oracle([4]), "set_a": _oracle([5]), MISSING: _oracle([0, 1, 2, 3])},
    )


def test_slices_carry_only_scalar_metrics_and_rouge_from_rouge_score() -> None:
    records = _sft_records()
    table = slice_metrics(records, ["source"], task="sft", metrics=["rouge1", "rougeL"])
    human = [i for i, (_, _, t) in enumerate(ANSWERS) if t["source"] == "human"]
    want = m.rouge_scores([ANSWERS[i][1] for i in human], [ANSWERS[i][0] for i in human])
    assert want is not None
    assert table["source"]["human"]["rouge1"] == pytest.approx(sum(want["rouge1"]) / len(human))
    assert set(table["source"]["human"]) == {"n", "rouge1", "rougeL"}


def test_tag_values_are_named_in_json_spelling() -> None:
    examples = [SFTExample("q", "a", tags={"flag": v}) for v in (True, False, 3, 2.5, "x")]
    records = build_records(examples, predictions=["a"] * 5)
    score_records(records, "sft", ["f1"])
    assert list(slice_metrics(records, ["flag"], task="sft", metrics=["f1"])["flag"]) == [
        "true",
        "false",
        "3",
        "2.5",
        "x",
    ]


def test_a_slice_key_no_row_has_lists_the_keys_that_exist() -> None:
    with pytest.raises(EvaluationError) as err:
        slice_metrics(_sft_records(), ["source", "nosuchkey"], task="sft", metrics=["f1"])
    assert "nosuchkey" in str(err.value)
    assert "_source_dataset, difficulty, source" in str(err.value)
    assert slice_metrics(_sft_records(), [], task="sft", metrics=["f1"]) == {}


def test_overall_is_the_slice_of_everything() -> None:
    records = _sft_records()
    got = overall_metrics(records, "sft", ["exact_match", "f1", "perplexity"])
    want = _oracle(list(range(len(ANSWERS))))
    del want["n"]
    assert got == pytest.approx(want)


def test_sft_hard_examples_lowest_f1_first_ties_in_input_order() -> None:
    records = _sft_records()
    f1 = [m.token_f1(p, r) for r, p, _ in ANSWERS]
    hard = hard_examples(records, 4, "sft")
    assert [h["rank"] for h in hard] == [1, 2, 3, 4]
    assert [h["index"] for h in hard] == sorted(range(len(f1)), key=lambda i: (f1[i], i))[:4]
    assert [h["f1"] for h in hard] == sorted(f1)[:4]
    first = hard[0]
    assert first["reference"] == ANSWERS[first["index"]][0]
    assert first["prediction"] == ANSWERS[first["index"]][1]
    assert first["input"] == f"q{first['index']}"
    assert first["tags"] == ANSWERS[first["index"]][2]
    assert len(hard_examples(records, 100, "sft")) == len(ANSWERS)
    assert hard_examples(records, 0, "sft") == []


def _cls_records() -> List[Dict[str, Any]]:
    rows = [  # (true, predicted, p(pos), source)
        ("pos", "pos", 0.9, "a"),
        ("pos", "neg", 0.2, "a"),
        ("neg", "pos", 0.6, "b"),
        ("neg", "neg", 0.3, "b"),
        ("pos", "neg", 0.4, "b"),
        ("maybe", "neg", 0.5, "a"),
    ]
    examples = [ClassificationExample(f"t{i}", t, tags={"source": s}) for i, (t, _, _, s) in enumerate(rows)]
    preds = [ClassPrediction(label=p, probabilities={"pos": q, "neg": 1 - q}) for _, p, q, _ in rows]
    return build_records(examples, class_predictions=preds)


def test_classification_records_slices_and_hard_examples() -> None:
    records = _cls_records()
    assert [r["correct"] for r in records] == [True, False, False, True, False, False]
    assert records[1]["true_label_probability"] == pytest.approx(0.2)
    assert records[5]["true_label_probability"] == 0.0  # a label the model never saw
    table = slice_metrics(
        records,
        ["source"],
        task="classification",
        metrics=m.available_metrics("classification"),
        labels=["neg", "pos"],
    )
    for value, idx in (("a", [0, 1, 5]), ("b", [2, 3, 4])):
        y_true = [records[i]["reference"] for i in idx]
        y_pred = [records[i]["prediction"] for i in idx]
        assert table["source"][value] == pytest.approx(
            {
                "n": 3,
                "accuracy": skm.accuracy_score(y_true, y_pred),
                "macro_f1": skm.f1_score(y_true, y_pred, average="macro", zero_division=0),
            }
        )
    hard = hard_examples(records, 10, "classification")
    assert [h["index"] for h in hard] == [5, 1, 2, 4]  # misclassified only, lowest p(true) first
    assert [h["true_label_probability"] for h in hard] == pytest.approx([0.0, 0.2, 0.4, 0.4])
    assert unseen_labels(records, ["neg", "pos"]) == {"maybe": 1}
    overall = overall_metrics(records, "classification", ["confusion_matrix"], ["neg", "pos"])
    assert overall["confusion_matrix"]["labels"] == ["maybe", "neg", "pos"]


def _result(task: str = "sft") -> EvalResult:
    return EvalResult(
        run_id="run_x",
        test_data_path="data/test.jsonl",
        num_examples=5000,
        overall={"exact_match": 0.6, "f1": 0.7},
        slices={
            "source": {
                "human": {"n": 2500, "exact_match": 0.62, "f1": 0.73},
                "synthetic": {"n": 2500, "exact_match": 0.599, "f1": 0.71344},
            },
            "difficulty": {"easy": {"n": 5000, "exact_match": 1.0, "f1": 1.0}},
        },
        task=task,
    )


def test_render_slices_has_the_guides_shape() -> None:
    assert render_slices(_result()) == [
        "Sliced by [source]:",
        "  source=human (n=2500): exact_match=0.6200, f1=0.7300",
        "  source=synthetic (n=2500): exact_match=0.5990, f1=0.7134",
        "",
        "Sliced by [difficulty]:",
        "  difficulty=easy (n=5000): exact_match=1.0000, f1=1.0000",
    ]


def test_eval_result_round_trips_with_the_guides_keys_first() -> None:
    result = _result()
    data = result.to_dict()
    assert tuple(data)[: len(GUIDE_KEYS)] == GUIDE_KEYS
    assert "unseen_labels" not in data
    assert EvalResult.from_dict({**data, "some_future_key": 1}) == result
    cls = _result("classification")
    cls.unseen_labels = {"maybe": 2}
    assert cls.to_dict()["unseen_labels"] == {"maybe": 2}


_tag = st.one_of(st.none(), st.sampled_from(["x", "y", "(z)"]), st.booleans(), st.integers(0, 2))
_cls_row = st.tuples(st.sampled_from(["a", "b", "c"]), st.sampled_from(["a", "b", "c"]), _tag)


@pytest.mark.filterwarnings("ignore:A single label was found:UserWarning")
@settings(max_examples=100, deadline=None)
@given(st.lists(_cls_row, min_size=1, max_size=40), st.lists(st.floats(0, 1), min_size=40, max_size=40))
def test_slices_equal_a_naive_per_group_computation(
    rows: List[Tuple[str, str, Any]], f1s: List[float]
) -> None:
    records = [
        {
            "reference": t,
            "prediction": p,
            "tags": {} if tag is None else {"k": tag},
            "scores": {"f1": f1s[i], "exact_match": float(f1s[i] > 0.5)},
        }
        for i, (t, p, tag) in enumerate(rows)
    ]
    if all(not r["tags"] for r in records):
        return
    groups: Dict[str, List[int]] = {}
    for i, (_, _, tag) in enumerate(rows):
        groups.setdefault(slice_value(tag), []).append(i)
    if MISSING in groups:  # the missing bucket comes last
        groups[MISSING] = groups.pop(MISSING)
    cls = slice_metrics(records, ["k"], task="classification", metrics=["accuracy", "macro_f1"])["k"]
    sft = slice_metrics(records, ["k"], task="sft", metrics=["f1", "exact_match"])["k"]
    assert list(cls) == list(groups) == list(sft)
    for name, idx in groups.items():
        y_true = [rows[i][0] for i in idx]
        y_pred = [rows[i][1] for i in idx]
        macro = skm.f1_score(y_true, y_pred, average="macro", zero_division=0)
        want = {"n": len(idx), "accuracy": skm.accuracy_score(y_true, y_pred), "macro_f1": macro}
        assert cls[name] == pytest.approx(want)
        assert sft[name]["f1"] == pytest.approx(sum(f1s[i] for i in idx) / len(idx))
