"""Example rows and JSONL files for tests.

The tests own their data: these generators are not the demo's (``verifily_cli.demo``), so changing
the demo never moves a test's expectations. Rows are deterministic per ``seed``.
"""

from __future__ import annotations

import json
import random
from pathlib import Path
from typing import Any, Dict, Iterable, List, Mapping

POSITIVE = ["great", "excellent", "wonderful", "fantastic", "lovely", "superb", "delightful", "brilliant"]
NEGATIVE = ["terrible", "awful", "horrible", "dreadful", "useless", "disappointing", "poor", "broken"]
DOMAINS = {
    "product": ["phone", "laptop", "kettle", "blender"],
    "movie": ["film", "movie", "sequel", "documentary"],
    "food": ["meal", "pizza", "soup", "dessert"],
}
LETTERS = "abcdefghijklmnopqrstuvwxyz"
Row = Dict[str, Any]


def write_jsonl(path: Path, rows: Iterable[Mapping[str, Any]]) -> Path:
    """``rows`` as a JSONL file (parent folders made); the path, for chaining."""
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    return path


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
