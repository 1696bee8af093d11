"""The CLI's layout rule (``verifily_cli/commands/__init__.py``), checked so that it stays true: every
``commands/<name>.py`` has ``handlers/<name>.py``, calls only its own handler's ``run_*`` functions,
and imports no handler and no use case at module level (``verifily --help`` stays instant)."""

from __future__ import annotations

import ast
from pathlib import Path

import verifily_cli

CLI = Path(verifily_cli.__file__).parent


def _modules(folder: str) -> set[str]:
    return {p.stem for p in (CLI / folder).glob("*.py") if p.stem != "__init__"}


def _handler_imports(name: str) -> list[tuple[str, str, bool]]:
    """(handler module, imported name, imported inside a function) for each handler import."""
    tree = ast.parse((CLI / "commands" / f"{name}.py").read_text())
    nested = {id(n) for f in ast.walk(tree) if isinstance(f, ast.FunctionDef) for n in ast.walk(f)}
    return [
        (node.module.rsplit(".", 1)[1], alias.name, id(node) in nested)
        for node in ast.walk(tree)
        if isinstance(node, ast.ImportFrom) and (node.module or "").startswith("verifily_cli.handlers.")
        for alias in node.names
    ]


def test_every_command_module_has_a_handler_module_of_the_same_name() -> None:
    assert _modules("commands") == _modules("handlers")


def test_each_command_calls_run_functions_of_its_own_handler_inside_the_command() -> None:
    for name in sorted(_modules("commands")):
        imports = _handler_imports(name)
        assert imports, f"commands/{name}.py calls no handler"
        for module, function, inside in imports:
            assert module == name, f"commands/{name}.py imports handlers/{module}.py"
            assert function.startswith("run_"), f"commands/{name}.py calls {function}, not run_<command>"
            assert inside, f"commands/{name}.py imports {function} at module level (--help would load it)"


def test_command_modules_import_only_typer_and_light_cli_modules_at_the_top() -> None:
    light = {"__future__", "enum", "pathlib", "typing", "typer"}
    light |= {"verifily_cli.errors", "verifily_cli.options"}
    for name in sorted(_modules("commands")):
        tree = ast.parse((CLI / "commands" / f"{name}.py").read_text())
        top = [n for n in tree.body if isinstance(n, (ast.Import, ast.ImportFrom))]
        modules = {n.module for n in top if isinstance(n, ast.ImportFrom)} | {
            a.name for n in top if isinstance(n, ast.Import) for a in n.names
        }
        assert modules <= light, f"commands/{name}.py imports {sorted(modules - light)} at module level"
