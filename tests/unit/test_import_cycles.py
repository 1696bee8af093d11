"""No import cycle among the modules of the four packages, counting every import statement.

Why a test of our own: import-linter's contracts see layers, not cycles inside a layer, and Python
only trips on a cycle when the import order happens to hit it. Here every ``import``/``from``
anywhere in a module counts: top level, inside functions, under ``if TYPE_CHECKING:``, in ``try``
blocks, and ``import_module``/``__import__`` of a literal name. A package's lazy table (names to
module strings, resolved by ``verifily_core.lazy``) is data, not an import, so it adds no edge.
``from pkg import name`` points at the submodule ``pkg.name`` when there is one, else at ``pkg``
itself (grimp's rule).
"""

from __future__ import annotations

import ast
from pathlib import Path
from typing import Dict, Iterator, List, Optional, Set

ROOT = Path(__file__).resolve().parents[2]
PACKAGES = ("verifily_core", "verifily_adapters", "verifily_cli", "verifily_train")


def _modules() -> Dict[str, Path]:
    """Dotted name -> source file, for every module of the packages (``pkg/__init__.py`` is ``pkg``)."""
    found: Dict[str, Path] = {}
    for package in PACKAGES:
        for path in sorted((ROOT / package).rglob("*.py")):
            parts = list(path.relative_to(ROOT).with_suffix("").parts)
            if parts[-1] == "__init__":
                parts.pop()
            found[".".join(parts)] = path
    return found


def _base(module: str, is_package: bool, level: int) -> str:
    """The package a relative import of ``level`` dots starts from, inside ``module``."""
    parts = module.split(".")
    keep = len(parts) - level + (1 if is_package else 0)
    assert keep > 0, f"{module}: a relative import climbs above its top package"
    return ".".join(parts[:keep])


def _targets(module: str, path: Path, known: Set[str]) -> Iterator[str]:
    """The modules of ``known`` that ``module`` imports, anywhere in its source."""
    is_package = path.name == "__init__.py"

    def resolve(name: str) -> Optional[str]:
        # the longest known prefix: ``import a.b.c`` of a module ``a.b`` that defines ``c`` names ``a.b``
        parts = name.split(".")
        while parts:
            candidate = ".".join(parts)
            if candidate in known:
                return candidate
            parts.pop()
        return None

    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"), filename=str(path))):
        if isinstance(node, ast.Import):
            for alias in node.names:
                target = resolve(alias.name)
                if target:
                    yield target
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = _base(module, is_package, node.level)
                source = f"{base}.{node.module}" if node.module else base
            else:
                source = node.module or ""
            for alias in node.names:
                target = resolve(f"{source}.{alias.name}") if alias.name != "*" else None
                target = target or resolve(source)
                if target:
                    yield target
        elif isinstance(node, ast.Call) and node.args and isinstance(node.args[0], ast.Constant):
            # import_module("a.b") / __import__("a.b") with a literal name is an import too
            func = node.func
            called = func.attr if isinstance(func, ast.Attribute) else getattr(func, "id", "")
            if called in ("import_module", "__import__") and isinstance(node.args[0].value, str):
                target = resolve(node.args[0].value)
                if target:
                    yield target


def import_graph() -> Dict[str, Set[str]]:
    """Module -> the modules it imports (self-imports dropped)."""
    modules = _modules()
    known = set(modules)
    return {name: {t for t in _targets(name, path, known) if t != name} for name, path in modules.items()}


def find_cycle(graph: Dict[str, Set[str]]) -> Optional[List[str]]:
    """One cycle as ``[a, b, ..., a]``, or None (iterative depth-first search, sorted for a stable answer)."""
    state: Dict[str, int] = {}  # 1: on the current path, 2: done
    for start in sorted(graph):
        if start in state:
            continue
        path: List[str] = [start]
        stack = [iter(sorted(graph[start]))]
        state[start] = 1
        while stack:
            nxt = next(stack[-1], None)
            if nxt is None:
                state[path.pop()] = 2
                stack.pop()
            elif state.get(nxt) == 1:
                return path[path.index(nxt) :] + [nxt]
            elif nxt not in state:
                state[nxt] = 1
                path.append(nxt)
                stack.append(iter(sorted(graph.get(nxt, ()))))
    return None


def test_the_packages_have_no_import_cycle() -> None:
    graph = import_graph()
    assert len(graph) > 100, f"the walk found only {len(graph)} modules: is ROOT right ({ROOT})?"
    cycle = find_cycle(graph)
    assert cycle is None, "import cycle: " + " -> ".join(cycle or [])


def test_the_walk_sees_imports_in_functions_and_type_checking_blocks(tmp_path: Path) -> None:
    """The detector itself: a cycle closed only by a function-level import, and one closed only under
    ``TYPE_CHECKING`` through a relative import, are both found; ``import_module`` of a literal name
    is an edge, a lazy table is not."""
    pkg = tmp_path / "pkg"
    pkg.mkdir()
    (pkg / "__init__.py").write_text('_EXPORTS = {"A": "pkg.a"}\n')
    (pkg / "a.py").write_text("from pkg import b\n")
    (pkg / "b.py").write_text("def later():\n    import pkg.a\n")
    (pkg / "c.py").write_text("from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n    from .d import D\n")
    (pkg / "d.py").write_text("from . import c\n")
    (pkg / "e.py").write_text('import importlib\nimportlib.import_module("pkg.a")\n')
    modules = {"pkg": pkg / "__init__.py", **{f"pkg.{m}": pkg / f"{m}.py" for m in "abcde"}}
    graph = {name: set(_targets(name, path, set(modules))) - {name} for name, path in modules.items()}
    assert graph == {
        "pkg": set(),
        "pkg.a": {"pkg.b"},
        "pkg.b": {"pkg.a"},
        "pkg.c": {"pkg.d"},
        "pkg.d": {"pkg.c"},
        "pkg.e": {"pkg.a"},
    }
    assert find_cycle(graph) == ["pkg.a", "pkg.b", "pkg.a"]
    assert find_cycle({k: v for k, v in graph.items() if k != "pkg.a"} | {"pkg.a": set()}) == [
        "pkg.c",
        "pkg.d",
        "pkg.c",
    ]
    assert find_cycle({"x": {"y"}, "y": set()}) is None
