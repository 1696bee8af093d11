"""Chat rows, several test files, trivial baselines, prediction rows and early-stopping checks (no model)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Dict, List

import pytest

from verifily_core.config import TrainConfig
from verifily_core.domain.data_files import resolve_data_files, role_files
from verifily_core.domain.data_mixing import SOURCE_TAG, load_eval_examples
from verifily_core.domain.data_parsing import load_examples
from verifily_core.domain.evaluation import example_input
from verifily_core.domain.examples import ClassificationExample, SFTExample
from verifily_core.domain.hashchain import files_digest, sha256_file
from verifily_core.domain.prompts import conversation_of, uses_chat_template
from verifily_core.domain.training import rising_eval_loss_notice
from verifily_core.domain.trivial_baselines import trivial_baselines
from verifily_core.errors import ConfigError, DataError
from verifily_core.services.prediction.loading import examples_to_predict
from verifily_core.services.training.prepare import check_early_stopping


def write(path: Path, rows: List[Any]) -> Path:
    path.write_text(
        "".join((r if isinstance(r, str) else json.dumps(r)) + "\n" for r in rows), encoding="utf-8"
    )
    return path


def turn(role: str, content: str) -> Dict[str, str]:
    return {"role": role, "content": content}


def test_chat_rows_become_examples_scored_on_their_last_assistant_turn(tmp_path: Path) -> None:
    path = write(
        tmp_path / "chat.jsonl",
        [
            {"messages": [turn("user", "2+2?"), turn("assistant", "4")], "tags": {"s": "a"}},
            {
                "messages": [
                    turn("system", "Be brief."),
                    turn("user", "Hi"),
                    turn("assistant", "Hello"),
                    turn("user", "Bye"),
                    turn("assistant", "Goodbye"),
                ]  # fmt: skip
            },
        ],
    )
    one, two = load_examples(path, "sft")
    assert isinstance(two, SFTExample) and two.output == "Goodbye" and two.instruction == "Bye"
    assert len(two.messages) == 5 and two.line == 2 and one.tags == {"s": "a"}
    assert example_input(two) == "system: Be brief.\nuser: Hi\nassistant: Hello\nuser: Bye"
    assert two.to_row()["messages"][-1] == turn("assistant", "Goodbye")
    assert uses_chat_template(two, "alpaca") and not uses_chat_template(SFTExample("i", "o"), "alpaca")
    assert conversation_of(SFTExample("Reverse.", "c b a", "a b c")) == [
        turn("user", "Reverse.\n\na b c"),
        turn("assistant", "c b a"),
    ]


def test_bad_chat_rows_name_file_line_and_field(tmp_path: Path) -> None:
    path = write(
        tmp_path / "conv.jsonl",
        [
            {"messages": [turn("user", "a"), turn("assistant", "b")]},
            {"messages": [turn("user", "a"), {"content": "b"}]},
            {"messages": [turn("system", "s"), turn("user", "w")]},
            {"messages": [turn("user", " "), turn("assistant", "b")]},
            {"messages": [turn("user", "a"), turn("assistant", "b"), turn("user", "c")]},
            {"messages": [], "output": "x"},
        ],
    )
    with pytest.raises(DataError) as info:
        load_examples(path, "sft")
    problems = "\n".join(info.value.problems)
    assert f"{path}:2: messages[1].role: missing" in problems
    assert f"{path}:3: messages: no assistant turn" in problems
    assert f"{path}:4: messages[0].content: empty" in problems
    assert f"{path}:5: messages[2].role: the last turn is 'user'" in problems
    assert f"{path}:6: output: a row is either a conversation" in problems
    assert ":1:" not in problems


def test_test_and_val_lists_tag_each_row_with_its_file(tmp_path: Path) -> None:
    row = {"instruction": "i", "output": "o", "tags": {"k": 1}}
    write(tmp_path / "train.jsonl", [row])
    a, b = write(tmp_path / "test_a.jsonl", [row, row]), write(tmp_path / "test_b.jsonl", [row])
    config = TrainConfig.from_dict(
        {
            "task": "sft",
            "base_model": "m",
            "data_paths": {
                "train": "train.jsonl",
                "test": ["test_a.jsonl", "test_b.jsonl"],
                "val": "test_b.jsonl",
            },
        },  # fmt: skip
        source=tmp_path / "c.yaml",
    )
    files = resolve_data_files(config)
    assert files["test"] == [str(a), str(b)] and files["val"] == str(b)
    assert [role for role, _ in role_files(files)] == ["train", "val", "test", "test"]
    examples = load_eval_examples(files["test"], "sft")
    assert [e.tags[SOURCE_TAG] for e in examples] == ["test_a", "test_a", "test_b"]
    assert examples[0].tags["k"] == 1
    assert SOURCE_TAG not in load_eval_examples(files["val"], "sft")[0].tags  # one path: tags as written
    assert files_digest([a]) == sha256_file(a) and files_digest([a, b]) != files_digest([b, a])


def test_trivial_baselines_copy_the_input_and_answer_the_majority() -> None:
    sft = [
        SFTExample("Reverse.", "c d", "d c"),
        SFTExample("Say hi", "hi"),
        SFTExample("", "x", messages=(("user", "x"), ("assistant", "x"))),
    ]
    copy = trivial_baselines("sft", sft)["copy_input"]
    assert copy["exact_match"] == pytest.approx(1 / 3) and copy["f1"] == pytest.approx((1 + 2 / 3 + 1) / 3)
    cls = [ClassificationExample("t", label) for label in ["a", "a", "b", "c"]]
    majority = trivial_baselines("classification", cls, {"b": 5, "a": 1})["majority_class"]
    assert majority == {"label": "b", "accuracy": 0.25, "macro_f1": pytest.approx(0.4 / 3)}
    assert trivial_baselines("classification", cls)["majority_class"]["label"] == "a"
    assert trivial_baselines("sft", []) == {}


def test_rising_validation_loss_is_noticed_only_after_several_rises() -> None:
    history = [
        {"step": s, "eval_loss": v} for s, v in [(10, 2.0), (20, 1.5), (30, 1.6), (40, 1.7), (50, 1.8)]
    ]
    (notice,) = rising_eval_loss_notice(history + [{"step": 50, "loss": 0.1}])
    assert "3 evaluations in a row" in notice and "step 20" in notice and "step 50" in notice
    assert rising_eval_loss_notice(history[:4]) == []


def test_rows_to_predict_need_no_answer_and_keep_file_and_line() -> None:
    rows: List[Any] = [
        "Say hi",
        {"instruction": "Reverse.", "input": "a b"},
        {"messages": [turn("user", "Hi")]},
    ]
    plain, with_input, chat = examples_to_predict(rows, "sft")
    assert plain.instruction == "Say hi" and with_input.input == "a b"
    assert chat.messages[0] == ("user", "Hi") and len(chat.messages) == 2  # answer slot added for generation
    (text,) = examples_to_predict(["fine"], "classification")
    assert isinstance(text, ClassificationExample) and text.text == "fine"
    with pytest.raises(DataError) as info:
        examples_to_predict([{"messages": [{"content": "x"}]}], "sft", "in.jsonl", [7])
    assert "in.jsonl:7: messages[0].role" in "\n".join(info.value.problems)


def test_early_stopping_needs_validation_data_and_aligned_checkpoints() -> None:
    def config(**training: Any) -> TrainConfig:
        return TrainConfig.from_dict({"task": "sft", "base_model": "m", "training": training})

    check_early_stopping(config(), {"val": None})
    with pytest.raises(ConfigError, match="data_paths.val is not set"):
        check_early_stopping(config(early_stopping_patience=2), {"val": None})
    with pytest.raises(ConfigError, match="not a multiple of eval_steps"):
        check_early_stopping(config(load_best_model_at_end=True, eval_steps=10, save_steps=15), {"val": "v"})
    check_early_stopping(
        config(early_stopping_patience=2, load_best_model_at_end=True, eval_steps=10, save_steps=20),
        {"val": "v"},
    )
