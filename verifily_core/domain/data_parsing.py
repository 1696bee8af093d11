"""Reading JSONL files: every file read once, every problem of every file reported together.

Blank lines are skipped and a UTF-8 byte-order mark on the first line is ignored; a missing, empty
or non-UTF-8 file, a line that is not JSON and a row that is not an object are problems like any
other, so that one :class:`DataError` lists them all (rows are checked by ``data_validation``).
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any, Dict, Iterator, List, Optional, Sequence, Tuple, Union

from verifily_core.domain.data_validation import PARSERS, Problems, json_kind
from verifily_core.domain.examples import Example
from verifily_core.errors import ConfigError, DataError

TASKS = ("sft", "classification")
PathLike = Union[str, Path]


def check_task(task: str) -> None:
    if task not in TASKS:
        raise ConfigError(f"Unknown task {task!r}; allowed: {', '.join(TASKS)}", key="task")


def iter_file(path: PathLike, task: str, problems: Problems) -> Iterator[Example]:
    """Examples of one file, streamed (one line in memory at a time); its problems (missing, empty,
    bad lines) go to ``problems``, which keeps only the first few, so a file of any size validates
    in bounded memory."""
    file, p = str(path), Path(path)
    if not p.exists():
        problems.add(file, None, "<file>", "not found; expected a JSONL file (check the path)")
        return
    if not p.is_file():
        problems.add(file, None, "<file>", "is a folder; expected a JSONL file")
        return
    parse = PARSERS[task]
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
                problems.add(file, line, "<row>", f"expected a JSON object {{...}}, got {json_kind(row)}")
                continue
            duplicate = duplicate_key(text, row)
            if duplicate is not None:
                problems.add(
                    file, line, duplicate, "duplicate key (JSON would keep only the last value); keep one"
                )
                continue
            example = parse(row, file, line, problems)
            if example is not None:
                yield example
    if not seen_content:
        problems.add(file, None, "<file>", "empty; expected one JSON object per line")


def parse_file(path: PathLike, task: str, problems: Problems) -> List[Example]:
    """Examples of one file, in file order; its problems go to ``problems``."""
    return list(iter_file(path, task, problems))


_KEY_END = re.compile(r'"\s*:')


def _count_keys(value: Any) -> int:
    if isinstance(value, dict):
        return len(value) + sum(_count_keys(v) for v in value.values())
    if isinstance(value, list):
        return sum(_count_keys(v) for v in value)
    return 0


def duplicate_key(text: str, row: Dict[str, Any]) -> Optional[str]:
    """The first key that occurs twice in one object of the line ``text`` (parsed as ``row``), or None.

    Kept cheap: every key is a string followed by ``:``, so a line has at least as many ``":``
    marks as keys; only when it has more marks than ``row`` kept keys (a duplicate, or a ``":``
    inside a string) is the line parsed again with a hook that sees every key.
    """
    if len(_KEY_END.findall(text)) <= _count_keys(row):
        return None
    found: List[str] = []

    def pairs_hook(pairs: List[Tuple[str, Any]]) -> Dict[str, Any]:
        seen: set[str] = set()
        for key, _ in pairs:
            if key in seen and not found:
                found.append(key)
            seen.add(key)
        return dict(pairs)

    json.loads(text, object_pairs_hook=pairs_hook)
    return found[0] if found else None


def parse_files(paths: Sequence[PathLike], task: str) -> List[List[Example]]:
    """Every file parsed, every problem of every file reported together."""
    check_task(task)
    problems = Problems()
    parsed = [parse_file(p, task, problems) for p in paths]
    problems.raise_if_any(task)
    return parsed


def as_list(paths: Union[PathLike, Sequence[PathLike]]) -> List[PathLike]:
    listed = [paths] if isinstance(paths, (str, Path)) else list(paths)
    if not listed:
        raise DataError("No training data files given.", hint="Set data_paths.train to one path or a list.")
    return listed


def load_examples(path: PathLike, task: str) -> List[Example]:
    """Every example of one JSONL file, in file order; ``DataError`` listing up to 20 bad lines."""
    return parse_files([path], task)[0]


__all__ = ["TASKS", "PathLike", "as_list", "check_task", "load_examples", "parse_file", "parse_files"]
