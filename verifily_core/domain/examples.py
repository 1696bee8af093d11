"""Typed training/evaluation examples, the currency between data loading, services and backends.

Rows are parsed once (with file:line errors) into these frozen values so that no later stage has to
re-validate dictionaries; ``file`` and ``line`` travel with each example so that a backend can name
the exact rows it could not use (for instance rows truncated to nothing).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Dict, Mapping, Optional, Tuple, Union

TagValue = Union[str, int, float, bool, None]
Message = Tuple[str, str]
"""One chat turn: ``(role, content)`` with role ``system``, ``user`` or ``assistant``."""


@dataclass(frozen=True)
class SFTExample:
    """An instruction row, or a conversation (``messages`` non-empty, ending with an assistant turn).

    For a conversation, ``instruction`` is its last user turn and ``output`` its last assistant turn
    (what evaluation generates and scores); the loss covers every assistant turn.
    """

    instruction: str
    output: str
    input: str = ""
    tags: Mapping[str, TagValue] = field(default_factory=dict)
    file: str = ""
    line: int = 0
    messages: Tuple[Message, ...] = ()

    @property
    def target(self) -> str:
        return self.output

    def to_row(self) -> Dict[str, Any]:
        if self.messages:
            turns = [{"role": role, "content": content} for role, content in self.messages]
            return {"messages": turns, "tags": dict(self.tags)}
        row: Dict[str, Any] = {"instruction": self.instruction, "output": self.output}
        if self.input:
            row["input"] = self.input
        row["tags"] = dict(self.tags)
        return row


@dataclass(frozen=True)
class ClassificationExample:
    text: str
    label: str
    tags: Mapping[str, TagValue] = field(default_factory=dict)
    file: str = ""
    line: int = 0

    @property
    def target(self) -> str:
        return self.label

    def to_row(self) -> Dict[str, Any]:
        return {"text": self.text, "label": self.label, "tags": dict(self.tags)}


Example = Union[SFTExample, ClassificationExample]


def where(example: Example) -> Optional[str]:
    """``file:line`` of an example when known, for error messages."""
    return f"{example.file}:{example.line}" if example.file else None
