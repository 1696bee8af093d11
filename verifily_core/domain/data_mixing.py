"""Multi-file training data: every file tagged with its name, mixed by weight, reproducibly.

Each row's tags gain ``_source_dataset`` = its file's stem, so that evaluation can slice by source
and ``verifily attribute`` can leave a source out. The mixing rules are exact (largest-remainder
rounding, whole copies before sampling) so that the same files, weights and seed always give the
same rows in the same order, which the reproducibility hash relies on.
"""

from __future__ import annotations

import json
import random
from dataclasses import replace
from fractions import Fraction
from math import isfinite
from pathlib import Path
from typing import Any, Dict, List, Optional, Sequence, Union

from verifily_core.domain.data_parsing import PathLike, as_list, parse_files
from verifily_core.domain.examples import Example
from verifily_core.errors import ConfigError

SOURCE_TAG = "_source_dataset"


def _weighted_counts(sizes: Sequence[int], weights: Sequence[float]) -> List[int]:
    """Rows to draw per file: ``sum(sizes)`` split by weight, exact by largest-remainder rounding."""
    total, wsum = sum(sizes), sum(Fraction(w) for w in weights)
    quotas = [total * Fraction(w) / wsum for w in weights]
    counts = [int(q) for q in quotas]
    by_remainder = sorted(range(len(quotas)), key=lambda i: (-(quotas[i] - counts[i]), i))
    for i in by_remainder[: total - sum(counts)]:
        counts[i] += 1
    return counts


def check_weights(weights: Sequence[float], n_files: int) -> None:
    if len(weights) != n_files:
        raise ConfigError(
            f"data_paths.weights has {len(weights)} value(s) for {n_files} training file(s); "
            "give one weight per file",
            key="data_paths.weights",
        )
    bad = [w for w in weights if not (isinstance(w, (int, float)) and isfinite(w) and w > 0)]
    if bad:
        raise ConfigError(f"data_paths.weights must be positive numbers, got {bad}", key="data_paths.weights")


def _draw(rows: Sequence[Example], n: int, rng: random.Random) -> List[Example]:
    """``n`` rows: whole copies of the file while ``n`` exceeds it, then a sample without replacement."""
    copies, rest = divmod(n, len(rows))
    return list(rows) * copies + rng.sample(list(rows), rest)


def load_training_examples(
    paths: Union[PathLike, Sequence[PathLike]],
    task: str,
    weights: Optional[Sequence[float]] = None,
    seed: int = 42,
) -> List[Example]:
    """Training examples of one or more files, mixed as :func:`load_multi_jsonl` documents.

    Every example's tags gain ``_source_dataset`` = its file's stem (two files with the same stem
    share the value).
    """
    listed = as_list(paths)
    if weights is not None:
        check_weights(weights, len(listed))
    per_file = [
        [replace(e, tags={**e.tags, SOURCE_TAG: Path(p).stem}) for e in rows]
        for p, rows in zip(listed, parse_files(listed, task))
    ]
    rng = random.Random(seed)
    if weights is None:
        mixed = [e for rows in per_file for e in rows]
    else:
        counts = _weighted_counts([len(rows) for rows in per_file], weights)
        mixed = [e for rows, n in zip(per_file, counts) for e in _draw(rows, n, rng)]
    rng.shuffle(mixed)
    return mixed


def load_eval_examples(paths: Union[PathLike, Sequence[PathLike]], task: str) -> List[Example]:
    """Validation or test examples in file order, never mixed or shuffled. Given a list of files (the
    list form of ``data_paths.test``/``val``, or several ``--test-data``), every example's tags gain
    ``_source_dataset`` = its file's stem, as training rows do, so that ``eval-cmd --slice-by
    _source_dataset`` scores each source separately; one path alone keeps its rows' tags as written."""
    if isinstance(paths, (str, Path)):
        return parse_files([paths], task)[0]
    listed = as_list(paths)
    return [
        replace(e, tags={**e.tags, SOURCE_TAG: Path(p).stem})
        for p, rows in zip(listed, parse_files(listed, task))
        for e in rows
    ]


def _guess_task(paths: Sequence[PathLike]) -> str:
    """The task the first JSON object in the files looks like (``sft`` when nothing can be read)."""
    for path in paths:
        try:
            with open(path, "rb") as fh:
                for raw in fh:
                    try:
                        row = json.loads(raw)
                    except ValueError:
                        continue
                    if isinstance(row, dict):
                        return "classification" if "text" in row or "label" in row else "sft"
        except OSError:
            continue
    return "sft"


def load_multi_jsonl(
    paths: Union[PathLike, Sequence[PathLike]],
    weights: Optional[Sequence[float]] = None,
    seed: int = 42,
    task: Optional[str] = None,
) -> List[Dict[str, Any]]:
    """Rows of several JSONL files as plain dicts, each with ``tags._source_dataset`` = file stem.

    Exact semantics:

    * Without ``weights``: every row of every file exactly once, shuffled with ``random.Random(seed)``.
    * With ``weights`` (one positive number per file, normalised): the result has as many rows as the
      files together (``N = sum of file sizes``); file ``i`` contributes ``N * w_i / sum(w)`` rows,
      rounded by largest remainder so the counts sum to ``N`` exactly. A file asked for fewer rows
      than it has is sampled without replacement; a file asked for more is repeated whole as often as
      it fits and topped up by a sample without replacement (so every row appears ``k`` or ``k + 1``
      times). The mixture is then shuffled. Same files, weights and seed give the same rows in the
      same order.
    * ``task`` (``sft`` or ``classification``) is guessed from the first row when not given; every
      row is validated as for training (``DataError`` with ``file:line: field`` problems).
    """
    listed = as_list(paths)
    chosen = task if task is not None else _guess_task(listed)
    return [e.to_row() for e in load_training_examples(listed, chosen, weights, seed)]


__all__ = ["SOURCE_TAG", "load_eval_examples", "load_multi_jsonl", "load_training_examples"]
