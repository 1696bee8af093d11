"""The test suite's own rules, so that they hold after this change too: every test has a time
limit, shared helpers live once in ``tests/helpers``, and tests own their data.

Why: copies of a helper drift apart (seven ``workspace`` fixtures, five ``_jsonl``), and test data
borrowed from the demo moves a test's expectations whenever the demo changes.
"""

from __future__ import annotations

import ast
from pathlib import Path
from typing import Iterator, Tuple

import pytest

TESTS = Path(__file__).resolve().parents[1]
HELPERS = TESTS / "helpers"
# names defined once in tests/helpers; a test module imports them instead of writing its own
SHARED = {
    "_jsonl": "helpers.data.write_jsonl",
    "_write_jsonl": "helpers.data.write_jsonl",
    "write_jsonl": "helpers.data.write_jsonl",
    "free_port": "helpers.servers.free_port",
    "_free_port": "helpers.servers.free_port",
    "run_verifily": "helpers.cli.run_verifily",
}


def _test_modules() -> Iterator[Tuple[Path, ast.Module]]:
    for path in sorted(TESTS.rglob("*.py")):
        if HELPERS not in path.parents and "fixtures" not in path.relative_to(TESTS).parts:
            yield path, ast.parse(path.read_text(encoding="utf-8"), filename=str(path))


def test_every_test_has_a_time_limit(pytestconfig: pytest.Config) -> None:
    assert float(pytestconfig.getini("timeout") or 0) >= 60, (
        "set a default timeout in [tool.pytest.ini_options]"
    )


def test_no_test_module_writes_its_own_copy_of_a_shared_helper() -> None:
    copies = [
        f"{path.relative_to(TESTS)}:{node.lineno} defines {node.name}: import {SHARED[node.name]}"
        for path, tree in _test_modules()
        for node in ast.walk(tree)
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)) and node.name in SHARED
    ]
    assert not copies, "\n".join(copies)


def test_tests_take_their_data_from_helpers_not_from_the_demo() -> None:
    borrowed = [
        f"{path.relative_to(TESTS)}:{node.lineno}"
        for path, tree in _test_modules()
        if "demo" not in path.stem  # a test of the demo itself may call it
        for node in ast.walk(tree)
        if isinstance(node, ast.ImportFrom)
        and (node.module or "").startswith("verifily_cli.demo")
        or isinstance(node, ast.Import)
        and any(a.name.startswith("verifily_cli.demo") for a in node.names)
    ]
    assert not borrowed, "use helpers.data (reverse_rows, sentiment_rows) instead: " + ", ".join(borrowed)
