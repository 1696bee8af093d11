"""JSONL validation, multi-file loading and dataset versions (verifily_core.domain.data)."""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path
from typing import Any, Dict, List, Sequence

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from verifily_core.domain.data import (
    MAX_PROBLEMS,
    SOURCE_TAG,
    DatasetVersion,
    load_examples,
    load_multi_jsonl,
    load_training_examples,
)
from verifily_core.domain.examples import ClassificationExample, SFTExample
from verifily_core.domain.hashchain import data_hash
from verifily_core.errors import ConfigError, DataError


def _write(path: Path, rows: Sequence[Any]) -> Path:
    lines = ((r if isinstance(r, str) else json.dumps(r)) + "\n" for r in rows)
    path.write_text("".join(lines), encoding="utf-8")
    return path


def _sft_rows(n: int, source: str = "human") -> List[Dict[str, Any]]:
    return [
        {
            "instruction": f"Reverse {i}",
            "input": f"a{i} b",
            "output": f"b a{i}",
            "tags": {"source": source, "difficulty": "easy" if i % 2 else "hard"},
        }
        for i in range(n)
    ]


def _problems(exc: pytest.ExceptionInfo[DataError]) -> List[str]:
    return exc.value.problems


# ---------------------------------------------------------------------- valid rows


def test_sft_rows_become_typed_examples_with_file_and_line(tmp_path: Path) -> None:
    path = _write(
        tmp_path / "train.jsonl",
        [
            {
                "instruction": "Say hi",
                "output": "hi",
                "tags": {"source": "human", "n": 3, "ok": True, "x": None},
            },
            "",
            {"instruction": "Echo", "input": "x", "output": "x", "id": 7},
        ],
    )
    examples = load_examples(path, "sft")
    assert examples == [
        SFTExample("Say hi", "hi", "", {"source": "human", "n": 3, "ok": True, "x": None}, str(path), 1),
        SFTExample("Echo", "x", "x", {}, str(path), 3),
    ]


def test_classification_rows_and_byte_order_mark(tmp_path: Path) -> None:
    path = tmp_path / "cls.jsonl"
    path.write_bytes(b"\xef\xbb\xbf" + json.dumps({"text": "good", "label": "pos"}).encode() + b"\n")
    assert load_examples(path, "classification") == [ClassificationExample("good", "pos", {}, str(path), 1)]


# ---------------------------------------------------------------------- every bad input


@pytest.mark.parametrize(
    ("row", "task", "expected"),
    [
        ("{not json", "sft", ":1: <json>: invalid JSON"),
        ("[1, 2]", "sft", ":1: <row>: expected a JSON object"),
        ({"output": "x"}, "sft", ":1: instruction: missing; expected a non-empty string"),
        ({"instruction": "x", "output": "  "}, "sft", ":1: output: empty; expected a non-empty string"),
        ({"instruction": None, "output": "x"}, "sft", ":1: instruction: null; expected a non-empty string"),
        ({"instruction": "x", "output": "y", "input": 3}, "sft", ":1: input: expected a string"),
        (
            {"text": "x", "label": 1},
            "classification",
            ':1: label: expected a string, got number 1 (write it in quotes: "1")',
        ),
        ({"text": "x", "label": True}, "classification", ":1: label: expected a string, got boolean"),
        ({"text": "", "label": "a"}, "classification", ":1: text: empty"),
        ({"text": "x", "label": "a", "tags": ["a"]}, "classification", ":1: tags: expected an object"),
        (
            {"text": "x", "label": "a", "tags": {"k": {"n": 1}}},
            "classification",
            ":1: tags.k: expected a scalar (string, number, boolean or null), got object",
        ),
        ({"text": "x", "label": "a", "tags": {"k": [1]}}, "classification", ":1: tags.k: expected a scalar"),
    ],
)
def test_each_bad_row_names_file_line_field_and_expectation(
    tmp_path: Path, row: Any, task: str, expected: str
) -> None:
    path = _write(tmp_path / "bad.jsonl", [row])
    with pytest.raises(DataError) as exc:
        load_examples(path, task)
    assert any(p.startswith(str(path)) and expected in p for p in _problems(exc)), _problems(exc)
    assert str(path) in str(exc.value)
    assert exc.value.hint and "JSON object" in exc.value.hint


def test_non_utf8_bytes_name_line_and_column(tmp_path: Path) -> None:
    path = tmp_path / "latin1.jsonl"
    second = b'{"instruction": "caf\xe9", "output": "b"}'
    path.write_bytes(b'{"instruction": "a", "output": "b"}\n' + second + b"\n")
    with pytest.raises(DataError) as exc:
        load_examples(path, "sft")
    column = second.index(b"\xe9") + 1
    expected = f"{path}:2: <encoding>: expected UTF-8 text, found byte 0xe9 at column {column}"
    assert _problems(exc) == [expected]


@pytest.mark.parametrize("content", [b"", b"\n  \n\n"])
def test_empty_file(tmp_path: Path, content: bytes) -> None:
    path = tmp_path / "empty.jsonl"
    path.write_bytes(content)
    with pytest.raises(DataError) as exc:
        load_examples(path, "sft")
    assert _problems(exc) == [f"{path}: <file>: empty; expected one JSON object per line"]


def test_missing_file_and_folder(tmp_path: Path) -> None:
    with pytest.raises(DataError) as exc:
        load_examples(tmp_path / "nope.jsonl", "sft")
    missing = tmp_path / "nope.jsonl"
    assert _problems(exc) == [f"{missing}: <file>: not found; expected a JSONL file (check the path)"]
    with pytest.raises(DataError, match="is a folder"):
        load_examples(tmp_path, "sft")


def test_up_to_twenty_problems_are_listed_with_the_total(tmp_path: Path) -> None:
    path = _write(tmp_path / "many.jsonl", [{"instruction": "x"}] * 30)
    with pytest.raises(DataError) as exc:
        load_examples(path, "sft")
    problems = _problems(exc)
    assert len(problems) == MAX_PROBLEMS
    assert problems[0] == f"{path}:1: output: missing; expected a non-empty string (required field)"
    assert problems[-1].startswith(f"{path}:20: output")
    assert "30 problem(s), showing the first 20" in str(exc.value)


def test_problems_of_several_files_are_reported_together(tmp_path: Path) -> None:
    good = _write(tmp_path / "good.jsonl", _sft_rows(2))
    bad = _write(tmp_path / "bad.jsonl", [{"instruction": "x", "output": ""}])
    with pytest.raises(DataError) as exc:
        load_training_examples([good, bad, tmp_path / "gone.jsonl"], "sft")
    assert [p.split(": ")[0] for p in _problems(exc)] == [f"{bad}:1", str(tmp_path / "gone.jsonl")]


def test_unknown_task_is_a_config_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="regression") as exc:
        load_examples(_write(tmp_path / "a.jsonl", _sft_rows(1)), "regression")
    assert exc.value.key == "task"


# ---------------------------------------------------------------------- multi-file loading


def test_without_weights_every_row_once_tagged_and_shuffled_by_seed(tmp_path: Path) -> None:
    a = _write(tmp_path / "set_a.jsonl", _sft_rows(20, "a"))
    b = _write(tmp_path / "set_b.jsonl", _sft_rows(10, "b"))
    rows = load_multi_jsonl([a, b])
    assert Counter(r["tags"][SOURCE_TAG] for r in rows) == {"set_a": 20, "set_b": 10}
    assert sorted(json.dumps(r, sort_keys=True) for r in rows) == sorted(
        json.dumps({**r, "tags": {**r["tags"], SOURCE_TAG: s}}, sort_keys=True)
        for s, rs in (("set_a", _sft_rows(20, "a")), ("set_b", _sft_rows(10, "b")))
        for r in rs
    )
    assert rows == load_multi_jsonl([a, b], seed=42)
    assert rows != load_multi_jsonl([a, b], seed=7)
    assert [r["tags"][SOURCE_TAG] for r in rows] != ["set_a"] * 20 + ["set_b"] * 10


def test_weights_upsample_a_small_file_by_whole_copies(tmp_path: Path) -> None:
    a = _write(tmp_path / "a.jsonl", _sft_rows(32))
    b = _write(tmp_path / "b.jsonl", _sft_rows(32))
    rows = load_multi_jsonl([a, b], weights=[0.75, 0.25])
    counts = Counter(r["tags"][SOURCE_TAG] for r in rows)
    assert counts == {"a": 48, "b": 16}
    copies = Counter(r["instruction"] for r in rows if r["tags"][SOURCE_TAG] == "a")
    assert set(copies.values()) == {1, 2} and sum(copies.values()) == 48
    assert len({r["instruction"] for r in rows if r["tags"][SOURCE_TAG] == "b"}) == 16  # no repeats


def test_task_is_guessed_for_classification_files(tmp_path: Path) -> None:
    path = _write(tmp_path / "reviews.jsonl", [{"text": "ok", "label": "pos"}])
    assert load_multi_jsonl([path]) == [{"text": "ok", "label": "pos", "tags": {SOURCE_TAG: "reviews"}}]


def test_typed_twin_keeps_examples_and_tags(tmp_path: Path) -> None:
    a = _write(tmp_path / "a.jsonl", _sft_rows(3))
    examples = load_training_examples(a, "sft", seed=1)
    assert all(
        isinstance(e, SFTExample) and e.tags[SOURCE_TAG] == "a" and e.tags["source"] == "human"
        for e in examples
    )
    assert sorted(e.line for e in examples) == [1, 2, 3]


@pytest.mark.parametrize("weights", [[1.0], [1.0, 0.0], [1.0, -2.0], [1.0, float("inf")]])
def test_bad_weights_are_config_errors(tmp_path: Path, weights: List[float]) -> None:
    a = _write(tmp_path / "a.jsonl", _sft_rows(2))
    with pytest.raises(ConfigError) as exc:
        load_multi_jsonl([a, a], weights=weights)
    assert exc.value.key == "data_paths.weights"


def test_no_files_is_a_data_error() -> None:
    with pytest.raises(DataError, match="No training data files"):
        load_multi_jsonl([])


@settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    sizes=st.lists(st.integers(min_value=1, max_value=60), min_size=2, max_size=4),
    raw_weights=st.lists(st.floats(min_value=0.05, max_value=10), min_size=4, max_size=4),
    seed=st.integers(0, 10_000),
)
def test_weighted_sampling_proportions(
    tmp_path: Path, sizes: List[int], raw_weights: List[float], seed: int
) -> None:
    weights = raw_weights[: len(sizes)]
    paths = [_write(tmp_path / f"s{i}.jsonl", _sft_rows(n)) for i, n in enumerate(sizes)]
    rows = load_multi_jsonl(paths, weights=weights, seed=seed)
    total = sum(sizes)
    assert len(rows) == total
    counts = Counter(r["tags"][SOURCE_TAG] for r in rows)
    for i, w in enumerate(weights):
        expected = total * w / sum(weights)
        assert abs(counts.get(f"s{i}", 0) - expected) < 1.0  # largest remainder: off by < 1 row


# ---------------------------------------------------------------------- dataset versions


def test_dataset_version_counts_tags_and_hash(tmp_path: Path) -> None:
    train = _write(tmp_path / "train.jsonl", _sft_rows(4, "human") + _sft_rows(2, "synthetic"))
    val = _write(tmp_path / "val.jsonl", _sft_rows(3))
    dsv = DatasetVersion.from_local_paths(train_path=str(train), task="sft", val_path=str(val))
    assert (dsv.num_rows, dsv.num_val_rows, dsv.num_test_rows) == (6, 3, 0)
    assert dsv.tag_keys == ["difficulty", "source"]
    assert dsv.tag_distribution == {
        "difficulty": {"easy": 3, "hard": 3},
        "source": {"human": 4, "synthetic": 2},
    }
    assert dsv.content_hash == data_hash([("train", train), ("val", val)])[0]
    manifest = dsv.to_manifest_dict()
    assert json.loads(json.dumps(manifest)) == manifest
    assert manifest["content_hash"] == dsv.content_hash and manifest["num_rows"] == 6
    assert [f["role"] for f in manifest["files"]] == ["train", "val"]


def test_dataset_version_of_several_files_counts_sources(tmp_path: Path) -> None:
    a = _write(tmp_path / "human.jsonl", _sft_rows(2))
    b = _write(
        tmp_path / "synth.jsonl", [{"instruction": "x", "output": "y", "tags": {"lvl": 2, "ok": True}}]
    )
    dsv = DatasetVersion.from_local_paths([a, b], "sft", test_path=a)
    assert dsv.num_rows == 3 and dsv.num_test_rows == 2
    assert dsv.tag_distribution[SOURCE_TAG] == {"human": 2, "synth": 1}
    assert dsv.tag_distribution["lvl"] == {"2": 1} and dsv.tag_distribution["ok"] == {"true": 1}


def test_dataset_version_reports_bad_val_rows(tmp_path: Path) -> None:
    train = _write(tmp_path / "train.jsonl", _sft_rows(2))
    val = _write(tmp_path / "val.jsonl", ['{"instruction": "x"'])
    with pytest.raises(DataError) as exc:
        DatasetVersion.from_local_paths(train, "sft", val_path=val)
    assert _problems(exc)[0].startswith(f"{val}:1: <json>: invalid JSON")
