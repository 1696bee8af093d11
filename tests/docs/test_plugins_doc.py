"""docs/plugins.md cannot drift: its quoted code is the real code, its names are the real names.

A fenced ``python`` or ``toml`` block right after a ``<!-- quote: <path> -->`` line must appear
verbatim in that file (path relative to the repository root); any other python block must at least
compile.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import List, Optional, Tuple

import pytest

from verifily_core.plugins import hookspecs
from verifily_core.ports import ArtifactStore, BillingSink, ModelBackend, Tracker

ROOT = Path(__file__).resolve().parents[2]
DOC = ROOT / "docs" / "plugins.md"
BLOCK = re.compile(
    r"(?:^<!-- quote: (?P<path>\S+) -->\n)?^```(?P<lang>python|toml)\n(?P<code>.*?)^```", re.S | re.M
)
MUST_QUOTE = (
    "examples/verifily-sklearn/src/verifily_sklearn/hooks.py",
    "examples/verifily-sklearn/src/verifily_sklearn/backend.py",
    "examples/verifily-sklearn/pyproject.toml",
    "examples/verifily-sklearn/tests/test_conformance.py",
)


def blocks() -> List[Tuple[Optional[str], str, str]]:
    """(quoted path or None, language, code) for every python/toml block of the page."""
    return [(m["path"], m["lang"], m["code"]) for m in BLOCK.finditer(DOC.read_text(encoding="utf-8"))]


QUOTED = [(path, code) for path, _, code in blocks() if path]


def test_the_page_quotes_every_file_of_the_worked_example() -> None:
    assert len(QUOTED) >= 3
    assert set(MUST_QUOTE) <= {path for path, _ in QUOTED}


@pytest.mark.parametrize(("path", "code"), QUOTED, ids=[f"{p}#{i}" for i, (p, _) in enumerate(QUOTED)])
def test_quoted_block_is_verbatim_in_its_file(path: str, code: str) -> None:
    source = ROOT / path
    assert source.is_file(), f"docs/plugins.md quotes {path}, which does not exist"
    assert code.strip(), f"empty quote of {path}"
    assert code in source.read_text(encoding="utf-8"), (
        f"docs/plugins.md quotes {path}, but the file no longer contains this block:\n{code}"
    )


def test_unquoted_python_blocks_compile() -> None:
    compiled = [
        compile(code, str(DOC), "exec") for path, lang, code in blocks() if path is None and lang == "python"
    ]
    if not compiled:
        pytest.skip("docs/plugins.md has no python block of its own (every block is quoted from a real file)")
    assert all(code.co_filename == str(DOC) for code in compiled)


def test_every_hook_and_port_file_the_page_names_exists() -> None:
    text = DOC.read_text(encoding="utf-8")
    hooks = sorted(n for n in vars(hookspecs) if n.startswith("verifily_register_"))
    assert set(re.findall(r"verifily_register_\w+", text)) == set(hooks)
    for port in (ModelBackend, ArtifactStore, Tracker, BillingSink):
        assert port.__name__ in text
    for ref in re.findall(r"`(verifily_core/[\w/]+\.py)`", text):
        assert (ROOT / ref).is_file(), f"docs/plugins.md names {ref}, which does not exist"
    for link in re.findall(r"\]\(([^)#]+)\)", text):
        assert (DOC.parent / link).exists(), f"docs/plugins.md links to {link}, which does not exist"
