"""Validation of JSONL rows into typed examples, with every problem recorded as ``file:line: field``.

Why validate up front, in one pass, before any model is loaded: a bad row found after an hour of
training wastes the hour, and a loader that stops at the first bad line makes users fix one line
per attempt. So every problem is recorded as ``file:line: field: what was expected``, and one
:class:`DataError` lists the first :data:`MAX_PROBLEMS` of them (with the total).

Row formats (the guide's section 7):

* SFT: ``{"instruction": str, "output": str, "input": str?, "tags": {...}?}``, or a conversation
  ``{"messages": [{"role": "system"|"user"|"assistant", "content": str}, ...], "tags": {...}?}``
  with at least one assistant turn and an assistant turn last (the one evaluation scores)
* classification: ``{"text": str, "label": str, "tags": {...}?}``

Required fields must be non-empty strings (whitespace only counts as empty); a label must be a
string (write ``"1"``, not ``1``, so that labels never change type between files); ``tags`` must be
an object whose values are scalars (string, number, boolean, null). Fields other than these are
ignored.
"""

from __future__ import annotations

import json
from typing import Any, Callable, Dict, List, Mapping, Optional, Tuple

from verifily_core.domain.examples import ClassificationExample, Example, Message, SFTExample
from verifily_core.errors import DataError

MAX_PROBLEMS = 20
_Where = Tuple[str, int]
_SHAPES = {
    "sft": '{"instruction": "...", "output": "...", "input": "... (optional)", "tags": {...} (optional)}'
    ' or {"messages": [{"role": "user", "content": "..."}, {"role": "assistant", "content": "..."}]}',
    "classification": '{"text": "...", "label": "...", "tags": {...} (optional)}',
}


class Problems:
    """Collects problems across files; keeps the first MAX_PROBLEMS lines and counts the rest."""

    def __init__(self) -> None:
        self.lines: List[str] = []
        self.files: Dict[str, None] = {}  # insertion-ordered set of the files with problems
        self.total = 0
        self.file_level_only = True  # only whole-file problems (missing, empty): no line to fix

    def add(self, file: str, line: Optional[int], field: str, what: str) -> None:
        self.total += 1
        self.files[file] = None
        self.file_level_only = self.file_level_only and line is None
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
            hint="Check the file paths (a relative path given on the command line resolves against the "
            "current folder; in a config, against the config file's folder)."
            if self.file_level_only
            else f"Fix the lines listed. Each {task} line must be one JSON object: {_SHAPES[task]}",
        )


def json_kind(value: Any) -> str:
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


def _text(
    row: Mapping[str, Any], key: str, where: _Where, problems: Problems, prefix: str = ""
) -> Optional[str]:
    value = row.get(key)
    name = prefix + key
    if isinstance(value, str) and value.strip():
        return value
    if isinstance(value, str):
        problems.add(*where, name, "empty; expected a non-empty string")
    elif value is None:
        state = "null" if key in row else "missing"
        problems.add(*where, name, f"{state}; expected a non-empty string (required field)")
    else:
        quote = f' (write it in quotes: "{value}")' if isinstance(value, (int, float)) else ""
        problems.add(*where, name, f"expected a string, got {json_kind(value)} {_shown(value)}{quote}")
    return None


def _tags(row: Mapping[str, Any], where: _Where, problems: Problems) -> Optional[Dict[str, Any]]:
    tags = row.get("tags")
    if tags is None:
        return {}
    if not isinstance(tags, dict):
        problems.add(
            *where, "tags", f"expected an object of key: value pairs, got {json_kind(tags)} {_shown(tags)}"
        )
        return None
    ok = True
    for key, value in tags.items():
        if value is not None and not isinstance(value, (str, int, float, bool)):
            problems.add(
                *where,
                f"tags.{key}",
                f"expected a scalar (string, number, boolean or null), got {json_kind(value)}; "
                "tags must be a flat map",
            )
            ok = False
    return tags if ok else None


ROLES = ("system", "user", "assistant")


def _turn(item: Any, i: int, where: _Where, problems: Problems) -> Optional[Message]:
    if not isinstance(item, dict):
        problems.add(
            *where,
            f"messages[{i}]",
            f'expected an object {{"role": ..., "content": ...}}, got {json_kind(item)} {_shown(item)}',
        )
        return None
    role = item.get("role")
    if role not in ROLES:
        state = "missing" if "role" not in item else f"got {_shown(role)}"
        problems.add(*where, f"messages[{i}].role", f"{state}; expected one of {', '.join(ROLES)}")
    content = _text(item, "content", where, problems, prefix=f"messages[{i}].")
    return (role, content) if role in ROLES and content is not None else None


def _chat(row: Mapping[str, Any], file: str, line: int, problems: Problems) -> Optional[Example]:
    where = (file, line)
    messages = row.get("messages")
    tags = _tags(row, where, problems)
    clash = [k for k in ("instruction", "input", "output") if k in row]
    if clash:
        problems.add(
            *where,
            clash[0],
            "a row is either a conversation (messages) or an instruction row, not both; remove one",
        )
    if not isinstance(messages, list) or not messages:
        problems.add(
            *where,
            "messages",
            'expected a non-empty array of {"role": ..., "content": ...} '
            f"objects, got {json_kind(messages)} {_shown(messages)}",
        )
        return None
    turns = [_turn(item, i, where, problems) for i, item in enumerate(messages)]
    if any(t is None for t in turns) or tags is None or clash:
        return None
    good = [t for t in turns if t is not None]
    roles = [role for role, _ in good]
    if "assistant" not in roles:
        problems.add(
            *where,
            "messages",
            "no assistant turn; a conversation needs at least one "
            '{"role": "assistant", "content": "..."} message (the loss covers assistant turns only)',
        )
        return None
    if roles[-1] != "assistant":
        problems.add(
            *where,
            f"messages[{len(good) - 1}].role",
            f"the last turn is {roles[-1]!r}; a "
            "conversation must end with an assistant turn (the one evaluation scores)",
        )
        return None
    users = [content for role, content in good if role == "user"]
    return SFTExample(users[-1] if users else "", good[-1][1], "", tags, file, line, tuple(good))


def _sft(row: Mapping[str, Any], file: str, line: int, problems: Problems) -> Optional[Example]:
    if "messages" in row:
        return _chat(row, file, line, problems)
    where = (file, line)
    instruction = _text(row, "instruction", where, problems)
    output = _text(row, "output", where, problems)
    extra = row.get("input")
    input_ok = extra is None or isinstance(extra, str)
    if not input_ok:
        problems.add(
            *where, "input", f"expected a string (or leave it out), got {json_kind(extra)} {_shown(extra)}"
        )
    tags = _tags(row, where, problems)
    if instruction is None or output is None or tags is None or not input_ok:
        return None
    return SFTExample(instruction, output, extra or "", tags, file, line)


def _classification(row: Mapping[str, Any], file: str, line: int, problems: Problems) -> Optional[Example]:
    where = (file, line)
    text = _text(row, "text", where, problems)
    label = _text(row, "label", where, problems)
    tags = _tags(row, where, problems)
    if text is None or label is None or tags is None:
        return None
    return ClassificationExample(text, label, tags, file, line)


RowParser = Callable[[Mapping[str, Any], str, int, Problems], Optional[Example]]
"""``parse(row, file, line, problems)``: the example, or None with its problems recorded."""
PARSERS: Dict[str, RowParser] = {"sft": _sft, "classification": _classification}


__all__ = ["MAX_PROBLEMS", "PARSERS", "ROLES", "Problems", "RowParser", "json_kind"]
