"""JSONL data: parsing and validation into typed examples, multi-file loading, dataset versions.

Why validate up front, in one pass, before any model is loaded: a bad row found after an hour of
training wastes the hour, and a loader that stops at the first bad line makes users fix one line
per attempt. So every file is read once, every problem is recorded as
``file:line: field: what was expected``, and one :class:`DataError` lists the first
:data:`MAX_PROBLEMS` of them (with the total).

Row formats (the guide's section 7):

* SFT: ``{"instruction": str, "output": str, "input": str?, "tags": {...}?}``
* classification: ``{"text": str, "label": str, "tags": {...}?}``

Required fields must be non-empty strings (whitespace only counts as empty); a label must be a
string (write ``"1"``, not ``1``, so that labels never change type between files); ``tags`` must be
an object whose values are scalars (string, number, boolean, null). Blank lines are skipped, a UTF-8
byte-order mark on the first line is ignored, and fields other than these are ignored.
"""

from __future__ import annotations

import json
import random
from dataclasses import dataclass, replace
from fractions import Fraction
from math import isfinite
from pathlib import Path
from typing import Any, Dict, List, Mapping, Optional, Sequence, Tuple, Union

from verifily_core.domain.examples import ClassificationExample, Example, SFTExample
from verifily_core.domain.hashchain import DataFileRecord, data_hash
from verifily_core.errors import ConfigError, DataError

MAX_PROBLEMS = 20
SOURCE_TAG = "_source_dataset"
TASKS = ("sft", "classification")
PathLike = Union[str, Path]
_Where = Tuple[str, int]
_SHAPES = {
    "sft": '{"instruction": "...", "output": "...", "input": "... (optional)", "tags": {...} (optional)}',
    "classification": '{"text": "...", "label": "...", "tags": {...} (optional)}',
}


class _Problems:
    """Collects problems across files; keeps the first MAX_PROBLEMS lines and counts the rest."""

    def __init__(self) -> None:
        self.lines: List[str] = []
        self.files: Dict[str, None] = {}  # insertion-ordered set of the files with problems
        self.total = 0

    def add(self, file: str, line: Optional[int], field: str, what: str) -> None:
        self.total += 1
        self.files[file] = None
        if len(self.lines) < MAX_PROBLEMS:
            where = file if line is None else f"{file}:{line}"
            self.lines.append(f"{where}: {field}: {what}")

    def raise_if_any(self, task: str) -> None:
        if not self.total:
            return
        shown = f", showing the first {MAX_PROBLEMS}" if self.total > MAX_PROBLEMS else ""
        raise DataError(
            f"Invalid data in {', '.join(self.files)} ({self.total} problem(s){shown}):",
            problems=self.lines,
            hint=f"Fix the lines listed. Each {task} line must be one JSON object: {_SHAPES[task]}",
        )


def _kind(value: Any) -> str:
    """The JSON name of a value's type, as users see it in their file."""
    for kind, types in (
        ("null", type(None)),
        ("boolean", bool),
        ("number", (int, float)),
        ("string", str),
        ("array", list),
    ):
        if isinstance(value, types):
            return kind
    return "object"


def _shown(value: Any) -> str:
    text = json.dumps(value, ensure_ascii=False)
    return text if len(text) <= 40 else text[:37] + "..."


def _text(row: Mapping[str, Any], key: str, where: _Where, problems: _Problems) -> Optional[str]:
    value = row.get(key)
    if isinstance(value, str) and value.strip():
        return value
    if isinstance(value, str):
        problems.add(*where, key, "empty; expected a non-empty string")
    elif value is None:
        state = "null" if key in row else "missing"
        problems.add(*where, key, f"{state}; expected a non-empty string (required field)")
    else:
        quote = f' (write it in quotes: "{value}")' if isinstance(value, (int, float)) else ""
        problems.add(*where, key, f"expected a string, got {_kind(value)} {_shown(value)}{quote}")
    return None


def _tags(row: Mapping[str, Any], where: _Where, problems: _Problems) -> Optional[Dict[str, Any]]:
    tags = row.get("tags")
    if tags is None:
        return {}
    if not isinstance(tags, dict):
        problems.add(
            *where, "tags", f"expected an object of key: value pairs, got {_kind(tags)} {_shown(tags)}"
        )
        return None
    ok = True
    for key, value in tags.items():
        if value is not None and not isinstance(value, (str, int, float, bool)):
            problems.add(
                *where,
                f"tags.{key}",
                f"expected a scalar (string, number, boolean or null), got {_kind(value)}; "
                "tags must be a flat map",
            )
            ok = False
    return tags if ok else None


def _sft(row: Mapping[str, Any], file: str, line: int, problems: _Problems) -> Optional[Example]:
    where = (file, line)
    instruction = _text(row, "instruction", where, problems)
    output = _text(row, "output", where, problems)
    extra = row.get("input")
    input_ok = extra is None or isinstance(extra, str)
    if not input_ok:
        problems.add(
            *where, "input", f"expected a string (or leave it out), got {_kind(extra)} {_shown(extra)}"
        )
    tags = _tags(row, where, problems)
    if instruction is None or output is None or tags is None or not input_ok:
        return None
    return SFTExample(instruction, output, extra or "", tags, file, line)


def _classification(row: Mapping[str, Any], file: str, line: int, problems: _Problems) -> Optional[Example]:
    where = (file, line)
    text = _text(row, "text", where, problems)
    label = _text(row, "label", where, problems)
    tags = _tags(row, where, problems)
    if text is None or label is None or tags is None:
        return None
    return ClassificationExample(text, label, tags, file, line)


_PARSERS = {"sft": _sft, "classification": _classification}


def _check_task(task: str) -> None:
    if task not in TASKS:
        raise ConfigError(f"Unknown task {task!r}; allowed: {', '.join(TASKS)}", key="task")


def _parse_file(path: PathLike, task: str, problems: _Problems) -> List[Example]:
    """Examples of one file; its problems (missing, empty, bad lines) go to ``problems``."""
    file, p = str(path), Path(path)
    if not p.exists():
        problems.add(file, None, "<file>", "not found; expected a JSONL file (check the path)")
        return []
    if not p.is_file():
        problems.add(file, None, "<file>", "is a folder; expected a JSONL file")
        return []
    parse = _PARSERS[task]
    examples: List[Example] = []
    seen_content = False
    with open(p, "rb") as fh:
        for line, raw in enumerate(fh, 1):
            try:
                text = raw.decode("utf-8")
            except UnicodeDecodeError as exc:
                seen_content = True
                bad = f"0x{raw[exc.start]:02x} at column {exc.start + 1}"
                problems.add(file, line, "<encoding>", f"expected UTF-8 text, found byte {bad}")
                continue
            if line == 1 and text.startswith("\ufeff"):
                text = text[1:]
            if not text.strip():
                continue
            seen_content = True
            try:
                row = json.loads(text)
            except json.JSONDecodeError as exc:
                problems.add(
                    file, line, "<json>", f"invalid JSON: {exc.msg.removesuffix(' at')} (column {exc.colno})"
                )
                continue
            if not isinstance(row, dict):
                problems.add(file, line, "<row>", f"expected a JSON object {{...}}, got {_kind(row)}")
                continue
            example = parse(row, file, line, problems)
            if example is not None:
                examples.append(example)
    if not seen_content:
        problems.add(file, None, "<file>", "empty; expected one JSON object per line")
    return examples


def _parse_files(paths: Sequence[PathLike], task: str) -> List[List[Example]]:
    """Every file parsed, every problem of every file reported together."""
    _check_task(task)
    problems = _Problems()
    parsed = [_parse_file(p, task, problems) for p in paths]
    problems.raise_if_any(task)
    return parsed


def _as_list(paths: Union[PathLike, Sequence[PathLike]]) -> List[PathLike]:
    listed = [paths] if isinstance(paths, (str, Path)) else list(paths)
    if not listed:
        raise DataError("No training data files given.", hint="Set data_paths.train to one path or a list.")
    return listed


def load_examples(path: PathLike, task: str) -> List[Example]:
    """Every example of one JSONL file, in file order; ``DataError`` listing up to 20 bad lines."""
    return _parse_files([path], task)[0]


# ---------------------------------------------------------------------- multi-file loading


def _weighted_counts(sizes: Sequence[int], weights: Sequence[float]) -> List[int]:
    """Rows to draw per file: ``sum(sizes)`` split by weight, exact by largest-remainder rounding."""
    total, wsum = sum(sizes), sum(Fraction(w) for w in weights)
    quotas = [total * Fraction(w) / wsum for w in weights]
    counts = [int(q) for q in quotas]
    by_remainder = sorted(range(len(quotas)), key=lambda i: (-(quotas[i] - counts[i]), i))
    for i in by_remainder[: total - sum(counts)]:
        counts[i] += 1
    return counts


def _check_weights(weights: Sequence[float], n_files: int) -> None:
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
    listed = _as_list(paths)
    if weights is not None:
        _check_weights(weights, len(listed))
    per_file = [
        [replace(e, tags={**e.tags, SOURCE_TAG: Path(p).stem}) for e in rows]
        for p, rows in zip(listed, _parse_files(listed, task))
    ]
    rng = random.Random(seed)
    if weights is None:
        mixed = [e for rows in per_file for e in rows]
    else:
        counts = _weighted_counts([len(rows) for rows in per_file], weights)
        mixed = [e for rows, n in zip(per_file, counts) for e in _draw(rows, n, rng)]
    rng.shuffle(mixed)
    return mixed


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
    listed = _as_list(paths)
    chosen = task if task is not None else _guess_task(listed)
    return [e.to_row() for e in load_training_examples(listed, chosen, weights, seed)]


# ---------------------------------------------------------------------- dataset versions


def _tag_value(value: Any) -> str:
    """Tag values as distribution keys: strings as they are, other scalars as JSON (``true``, ``3``)."""
    return value if isinstance(value, str) else json.dumps(value)


@dataclass(frozen=True)
class DatasetVersion:
    """A description of local data files: row counts, tag statistics and a content hash.

    ``num_rows`` counts training rows; validation and test rows are counted separately.
    ``tag_distribution`` is ``{tag key: {value: rows}}`` over the training rows (with
    ``_source_dataset`` when there are several training files). ``content_hash`` equals the
    ``data_hash`` of a run trained on the same files.
    """

    task: str
    train_paths: Tuple[str, ...]
    val_path: Optional[str]
    test_path: Optional[str]
    num_rows: int
    num_val_rows: int
    num_test_rows: int
    tag_keys: List[str]
    tag_distribution: Dict[str, Dict[str, int]]
    content_hash: str
    files: Tuple[DataFileRecord, ...]

    @classmethod
    def from_local_paths(
        cls,
        train_path: Union[PathLike, Sequence[PathLike]],
        task: str,
        val_path: Optional[PathLike] = None,
        test_path: Optional[PathLike] = None,
    ) -> DatasetVersion:
        """Validate and describe the files (``DataError`` listing bad lines of any of them)."""
        train = _as_list(train_path)
        extra = [p for p in (val_path, test_path) if p is not None]
        parsed = _parse_files([*train, *extra], task)
        train_rows = parsed[: len(train)]
        counts = iter(len(rows) for rows in parsed[len(train) :])
        n_val = next(counts) if val_path is not None else 0
        n_test = next(counts) if test_path is not None else 0

        distribution: Dict[str, Dict[str, int]] = {}
        for path, rows in zip(train, train_rows):
            for e in rows:
                tags = {**e.tags, SOURCE_TAG: Path(path).stem} if len(train) > 1 else e.tags
                for key, value in tags.items():
                    bucket = distribution.setdefault(key, {})
                    label = _tag_value(value)
                    bucket[label] = bucket.get(label, 0) + 1
        distribution = {k: dict(sorted(v.items())) for k, v in sorted(distribution.items())}

        roles = [("train", p) for p in train] + [
            (r, p) for r, p in (("val", val_path), ("test", test_path)) if p is not None
        ]
        content_hash, records = data_hash(roles)
        return cls(
            task,
            tuple(str(p) for p in train),
            None if val_path is None else str(val_path),
            None if test_path is None else str(test_path),
            sum(len(r) for r in train_rows),
            n_val,
            n_test,
            list(distribution),
            distribution,
            content_hash,
            tuple(records),
        )

    def to_manifest_dict(self) -> Dict[str, Any]:
        """JSON-ready manifest (no timestamps, so equal data gives an equal manifest)."""
        return {
            "manifest_version": 1,
            "dataset_version": "local",
            "task": self.task,
            "content_hash": self.content_hash,
            "num_rows": self.num_rows,
            "num_val_rows": self.num_val_rows,
            "num_test_rows": self.num_test_rows,
            "tag_keys": list(self.tag_keys),
            "tag_distribution": {k: dict(v) for k, v in self.tag_distribution.items()},
            "files": [r.to_dict() for r in self.files],
        }


__all__ = [
    "MAX_PROBLEMS",
    "SOURCE_TAG",
    "DatasetVersion",
    "load_examples",
    "load_multi_jsonl",
    "load_training_examples",
]
