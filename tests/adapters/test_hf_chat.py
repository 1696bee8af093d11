"""Chat rows on a model without a chat template, and a template added by hand (tiny llama, fast)."""

from __future__ import annotations

from pathlib import Path

import pytest
from helpers import hf

from verifily_adapters.hf_backend import loading
from verifily_adapters.hf_backend.tensors import IGNORE_INDEX, Encoder
from verifily_core.domain.examples import SFTExample
from verifily_core.errors import DataError

TEMPLATE = (
    "{% for m in messages %}<{{ m['role'] }}>{{ m['content'] }}</s>{% endfor %}"
    "{% if add_generation_prompt %}<assistant>{% endif %}"
)


def chat(file: str = "conv.jsonl", line: int = 3) -> SFTExample:
    turns = (("user", "a b"), ("assistant", "b a"), ("user", "c d"), ("assistant", "d c"))
    return SFTExample("c d", "d c", file=file, line=line, messages=turns)


def test_a_model_without_chat_template_refuses_conversations_naming_the_row(tiny_causal: Path) -> None:
    tokenizer = loading.load_tokenizer(tiny_causal)
    assert not tokenizer.chat_template
    with pytest.raises(DataError, match=r"conv\.jsonl:3: messages: .*has none \(no chat_template\)"):
        Encoder(tokenizer, loading.CAUSAL_LM, 128).encode(chat())
    with pytest.raises(DataError, match="an instruction row"):
        Encoder(tokenizer, loading.CAUSAL_LM, 128, prompt_format="chat_template").encode(SFTExample("i", "o"))


def test_template_rendering_masks_all_but_assistant_turns_and_counts_truncation(tiny_causal: Path) -> None:
    tokenizer = loading.load_tokenizer(tiny_causal)
    tokenizer.chat_template = TEMPLATE
    encoder = Encoder(tokenizer, loading.CAUSAL_LM, 128)
    feature, cut = encoder.encode(chat())
    supervised = [t for t, label in zip(feature["input_ids"], feature["labels"]) if label != IGNORE_INDEX]
    expected = tokenizer("b a</s>", add_special_tokens=False)["input_ids"]
    expected += tokenizer("d c</s>", add_special_tokens=False)["input_ids"]
    assert cut == 0 and supervised == expected
    prompt = encoder.prompt_ids(chat())
    assert tokenizer.decode(prompt).endswith("<assistant>") and feature["input_ids"][: len(prompt)] == prompt
    short, cut = Encoder(tokenizer, loading.CAUSAL_LM, 12).encode(chat())
    assert len(short["input_ids"]) == 12 and cut == len(feature["input_ids"]) - 12


def test_early_stopping_stops_when_the_validation_loss_stalls(tiny_causal: Path, tmp_path: Path) -> None:
    """A learning rate too small to move the loss by ``min_delta``: stop after ``patience`` evaluations."""
    config = hf.sft_config(
        tiny_causal,
        training={
            "learning_rate": 1e-9,
            "eval_steps": 1,
            "save_steps": 1,
            "logging_steps": 1,
            "early_stopping_patience": 2,
            "early_stopping_min_delta": 0.5,
            "load_best_model_at_end": True,
        },
    )
    outcome = hf.train(config, tmp_path / "run", hf.reverse_rows(64, 1), hf.reverse_rows(8, 3, "val.jsonl"))
    assert outcome.global_step == 3  # the first evaluation sets the best; two more without a better one stop
    assert len([e for e in outcome.log_history if "eval_loss" in e]) >= 3
