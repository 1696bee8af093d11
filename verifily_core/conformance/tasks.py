"""Tiny tasks that any backend learns from a few dozen rows, so that conformance runs in seconds."""

from __future__ import annotations

import random
from typing import List

from verifily_core.domain.examples import ClassificationExample, SFTExample


def sentiment_examples(n: int, seed: int) -> List[ClassificationExample]:
    """A two-label task any classifier learns from a few dozen rows."""
    rng = random.Random(seed)
    words = {
        "positive": ["great", "excellent", "lovely", "superb"],
        "negative": ["terrible", "awful", "broken", "dreadful"],
    }
    things = ["movie", "phone", "meal", "book"]
    return [
        ClassificationExample(
            text=f"This {rng.choice(things)} is {rng.choice(words[label])}.",
            label=label,
            file="train.jsonl",
            line=i + 1,
        )
        for i, label in enumerate(["positive", "negative"] * (n // 2))
    ]


def reverse_examples(n: int, seed: int) -> List[SFTExample]:
    """The letter-reversal SFT task: short, so that a tiny model trains on it in seconds."""
    rng = random.Random(seed)
    rows = []
    for i in range(n):
        seq = [rng.choice("abcdefgh") for _ in range(rng.randint(2, 4))]
        rows.append(
            SFTExample(
                instruction="Reverse the letters.",
                input=" ".join(seq),
                output=" ".join(reversed(seq)),
                file="train.jsonl",
                line=i + 1,
            )
        )
    return rows
