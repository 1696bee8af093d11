"""Sample rows with tags, shipped for tests, benches and the demo (pure Python, deterministic per seed).

Two small tasks whose outcome by data source is known in advance: letter-reversal SFT rows (learnable
by a tiny llama in a few steps) and sentiment classification rows with a share of labels flipped on
purpose. One copy, so that the demo, the tests and the benches never drift apart; the tests import it
through ``tests/helpers/data.py``, never through the CLI's demo package.
"""

from __future__ import annotations

import random
from typing import Any, Dict, List

POSITIVE = ["great", "excellent", "wonderful", "fantastic", "lovely", "superb", "delightful", "brilliant"]
NEGATIVE = ["terrible", "awful", "horrible", "dreadful", "useless", "disappointing", "poor", "broken"]
DOMAINS = {
    "product": ["phone", "laptop", "kettle", "blender"],
    "movie": ["film", "movie", "sequel", "documentary"],
    "food": ["meal", "pizza", "soup", "dessert"],
}
LETTERS = "abcdefghijklmnopqrstuvwxyz"
Row = Dict[str, Any]


def reverse_rows(n: int, seed: int) -> List[Row]:
    """Letter-reversal SFT rows (learnable by the tiny llama in a few steps), tagged ``source``
    (alternating human/synthetic) and ``difficulty`` (easy: up to 3 letters)."""
    rng = random.Random(seed)
    rows = []
    for i in range(n):
        k = rng.randint(2, 4)
        seq = [rng.choice(LETTERS) for _ in range(k)]
        rows.append(
            {
                "instruction": "Reverse the letters.",
                "input": " ".join(seq),
                "output": " ".join(reversed(seq)),
                "tags": {
                    "source": "human" if i % 2 == 0 else "synthetic",
                    "difficulty": "easy" if k <= 3 else "hard",
                },
            }
        )
    return rows


def sentiment_rows(n: int, seed: int, source: str, noise: float = 0.0) -> List[Row]:
    """Sentiment classification rows tagged ``source``, ``domain`` and ``difficulty`` (every third
    row is a hard "I expected X, but it turned out Y"); ``noise`` is the share of flipped labels."""
    rng = random.Random(seed)
    rows = []
    for i in range(n):
        positive = i % 2 == 0
        domain = rng.choice(sorted(DOMAINS))
        thing = rng.choice(DOMAINS[domain])
        word = rng.choice(POSITIVE if positive else NEGATIVE)
        hard = i % 3 == 2
        if hard:
            other = rng.choice(NEGATIVE if positive else POSITIVE)
            text = f"I expected the {thing} to be {other}, but it turned out {word}."
        else:
            text = f"This {thing} is {word}."
        label = "positive" if positive else "negative"
        if noise and rng.random() < noise:
            label = "negative" if positive else "positive"
        rows.append(
            {
                "text": text,
                "label": label,
                "tags": {"source": source, "domain": domain, "difficulty": "hard" if hard else "easy"},
            }
        )
    return rows
