"""Adapters are built only in ``verifily_adapters`` and in the composition root (``verifily_core.bootstrap``).

Why a test and not an import-linter contract: the CLI and the facade may import adapter *modules*
for their functions (``atomic_write_text``, ``detect_compute``) and the core's contracts already keep
adapters out of it; what must not happen elsewhere is turning a class into an adapter (calling it,
or handing the class on as a factory), or loading the plugin registry to pick one by name. Either
bypasses the configured ``store:``/``backend:`` and makes the entry points disagree.

The test reads the source (every import counts, those inside functions included) and resolves each
name and attribute chain to the dotted name it was imported as.
"""

from __future__ import annotations

import ast
from dataclasses import dataclass
from pathlib import Path
from typing import Dict, Iterator, List, Optional, Sequence, Set

import pytest

ROOT = Path(__file__).resolve().parents[2]
ADAPTERS = "verifily_adapters"
SCANNED = ("verifily_core", "verifily_cli", "verifily_train")
BOOTSTRAP = "verifily_core.bootstrap"
PLUGIN_MANAGER = "verifily_core.plugins"  # defines the registry and re-exports it
# What loads the installed plugins: the application's registry (any use), bootstrap's accessor of it,
# ``load()`` of a registry (``X()`` is an instance of X), and the entry point readers below them. A
# fresh ``PluginRegistry`` that only registers a module (the plugin conformance suite) loads nothing.
LOADERS = (
    f"{BOOTSTRAP}.plugins",
    "verifily_core.plugins.registry",
    "verifily_core.plugins.manager.registry",
    "verifily_core.plugins.PluginRegistry().load",
    "verifily_core.plugins.PluginRegistry.load",
    "verifily_core.plugins.manager.PluginRegistry().load",
    "verifily_core.plugins.manager.PluginRegistry.load",
    "verifily_core.plugins.manager._entry_points",
    "pluggy.PluginManager().load_setuptools_entrypoints",
)
_INSTANCES = (PLUGIN_MANAGER, "pluggy")  # whose instances are followed through a plain assignment
_SCOPES = (ast.FunctionDef, ast.AsyncFunctionDef, ast.Lambda, ast.ClassDef)


def module_name(path: Path) -> str:
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def modules(package: str) -> Iterator[Path]:
    yield from sorted((ROOT / package).rglob("*.py"))


def adapter_classes() -> Set[str]:
    """Every class defined in ``verifily_adapters`` (nested ones too), by its bare name."""
    names: Set[str] = set()
    for path in modules(ADAPTERS):
        tree = ast.parse(path.read_text(encoding="utf-8"))
        names.update(node.name for node in ast.walk(tree) if isinstance(node, ast.ClassDef))
    return names


@dataclass(frozen=True)
class Finding:
    module: str
    line: int
    what: str

    def __str__(self) -> str:
        return f"{self.module}:{self.line}: {self.what}"


def _absolute(module: str, node: ast.ImportFrom, is_package: bool) -> str:
    """The module an ``ImportFrom`` reads from, relative imports resolved."""
    if not node.level:
        return node.module or ""
    base = module.split(".")
    base = base[: len(base) - node.level + (1 if is_package else 0)]
    return ".".join(base + ([node.module] if node.module else []))


def _own_nodes(scope: ast.AST) -> Iterator[ast.AST]:
    """The nodes of ``scope`` outside its nested functions and classes (their own scopes)."""
    for child in ast.iter_child_nodes(scope):
        yield child
        if not isinstance(child, _SCOPES):
            yield from _own_nodes(child)


def _bindings(scope: ast.AST, module: str, is_package: bool) -> Dict[str, str]:
    """Local name -> dotted name, for every import made directly in ``scope``."""
    bound: Dict[str, str] = {}
    for node in _own_nodes(scope):
        if isinstance(node, ast.Import):
            for alias in node.names:
                if alias.asname:
                    bound[alias.asname] = alias.name
                else:
                    head = alias.name.split(".")[0]
                    bound[head] = head
        elif isinstance(node, ast.ImportFrom):
            source = _absolute(module, node, is_package)
            for alias in node.names:
                if alias.name != "*":
                    bound[alias.asname or alias.name] = f"{source}.{alias.name}"
    return bound


class _Checker:
    """Walks one module with a stack of import scopes and records every forbidden use."""

    def __init__(self, module: str, is_package: bool, classes: Set[str], loaders_allowed: bool) -> None:
        self.module = module
        self.is_package = is_package
        self.classes = classes
        self.loaders_allowed = loaders_allowed
        self.findings: List[Finding] = []

    def check(self, tree: ast.Module) -> List[Finding]:
        self._scope(tree, [])
        return self.findings

    def _scope(self, scope: ast.AST, outer: List[Dict[str, str]]) -> None:
        stack = outer + [_bindings(scope, self.module, self.is_package)]
        stack[-1].update(self._instances(scope, stack))
        if isinstance(scope, ast.ClassDef):  # a class body's names are not seen by its methods
            for base in scope.bases + scope.decorator_list:
                self._expr(base, outer)
            for stmt in scope.body:
                self._node(stmt, stack, methods=outer)
            return
        if isinstance(scope, (ast.FunctionDef, ast.AsyncFunctionDef, ast.Lambda)):
            for default in scope.args.defaults + [d for d in scope.args.kw_defaults if d is not None]:
                self._expr(default, outer)
            if not isinstance(scope, ast.Lambda):
                for decorator in scope.decorator_list:
                    self._expr(decorator, outer)
            body: Sequence[ast.AST] = [scope.body] if isinstance(scope, ast.Lambda) else scope.body
        else:
            body = list(ast.iter_child_nodes(scope))
        for stmt in body:
            self._node(stmt, stack, methods=stack)

    def _node(self, node: ast.AST, stack: List[Dict[str, str]], methods: List[Dict[str, str]]) -> None:
        """Check ``node``; nested functions of a class body see ``methods`` (the class's outer scopes)."""
        if isinstance(node, _SCOPES):
            self._scope(node, methods)
            return
        if isinstance(node, (ast.Import, ast.ImportFrom)):
            return  # what they bind is judged where it is used
        if isinstance(node, ast.AnnAssign):  # annotations name types; only the value runs
            if node.value is not None:
                self._expr(node.value, stack)
            return
        if isinstance(node, ast.expr):
            self._expr(node, stack)
            return
        for child in ast.iter_child_nodes(node):
            self._node(child, stack, methods)

    def _expr(self, node: ast.expr, stack: List[Dict[str, str]]) -> None:
        if isinstance(node, _SCOPES):
            self._scope(node, stack)
            return
        if isinstance(node, ast.Call):
            if _name_of(node.func) in ("isinstance", "issubclass"):  # checking a type builds nothing
                for arg in node.args[:1]:
                    self._expr(arg, stack)
                for arg in node.args[1:]:
                    self._skip_types(arg, stack)
                return
            self._dynamic_import(node)
        dotted = self._resolve(node, stack) if isinstance(node, (ast.Name, ast.Attribute)) else None
        if dotted is not None and (self._judge(node, dotted) or isinstance(node, ast.Name)):
            return  # one finding per chain
        for child in ast.iter_child_nodes(node):
            if isinstance(child, ast.expr):
                self._expr(child, stack)
            elif isinstance(child, ast.AST):
                self._node(child, stack, stack)

    def _skip_types(self, node: ast.expr, stack: List[Dict[str, str]]) -> None:
        """The type argument of isinstance: adapter classes may appear; anything else is checked."""
        items = node.elts if isinstance(node, ast.Tuple) else [node]
        for item in items:
            if not isinstance(item, (ast.Name, ast.Attribute)):
                self._expr(item, stack)

    def _dynamic_import(self, node: ast.Call) -> None:
        """An adapter module imported by its name as a string, or a class fetched with ``getattr``."""
        name = _name_of(node.func)
        strings = [a.value for a in node.args if isinstance(a, ast.Constant) and isinstance(a.value, str)]
        if name in ("import_module", "__import__") and strings and strings[0].startswith(ADAPTERS):
            self._add(node, f"imports {strings[0]} dynamically (an adapter is picked by bootstrap)")
        if name == "getattr" and any(s in self.classes for s in strings):
            self._add(node, f"fetches adapter class {strings[-1]} with getattr: build it in bootstrap")

    def _instances(self, scope: ast.AST, stack: List[Dict[str, str]]) -> Dict[str, str]:
        """``r = PluginRegistry(...)`` in ``scope``: ``r`` -> ``verifily_core.plugins.PluginRegistry()``."""
        found: Dict[str, str] = {}
        for node in _own_nodes(scope):
            if isinstance(node, ast.Assign) and isinstance(node.value, ast.Call):
                made = self._resolve(node.value, stack)
                if made is not None and made.startswith(_INSTANCES):
                    found.update({t.id: made for t in node.targets if isinstance(t, ast.Name)})
        return found

    def _resolve(self, node: ast.expr, stack: List[Dict[str, str]]) -> Optional[str]:
        """The dotted name ``node`` stands for, if it is an imported name or an attribute chain on
        one; a call in the chain adds ``()`` (``m.PluginRegistry().load``)."""
        attrs: List[str] = []
        while isinstance(node, (ast.Attribute, ast.Call)):
            if isinstance(node, ast.Call):
                attrs.append("()")
                node = node.func
            else:
                attrs.append("." + node.attr)
                node = node.value
        if not isinstance(node, ast.Name):
            return None
        for scope in reversed(stack):
            if node.id in scope:
                return scope[node.id] + "".join(attrs[::-1])
        return None

    def _judge(self, node: ast.expr, dotted: str) -> bool:
        """Record a finding for ``dotted`` if it is an adapter class or a plugin loader."""
        parts = dotted.replace("()", "").split(".")
        if parts[0] == ADAPTERS:
            cls = next((p for p in parts[1:] if p in self.classes), None)
            if cls is not None:
                self._add(node, f"uses adapter class {cls} ({dotted}): build it in verifily_core.bootstrap")
                return True
            if "hooks" in parts[1:-1]:  # a plugin hook returns the adapter class
                self._add(node, f"calls a plugin's hook ({dotted}): plugins are read by bootstrap only")
                return True
        elif not self.loaders_allowed and any(_within(dotted, x) for x in LOADERS):
            self._add(node, f"loads plugins itself ({dotted}): ask verifily_core.bootstrap for the adapter")
            return True
        return False

    def _add(self, node: ast.AST, what: str) -> None:
        self.findings.append(Finding(self.module, getattr(node, "lineno", 0), what))


def _within(dotted: str, prefix: str) -> bool:
    return dotted == prefix or (dotted.startswith(prefix) and dotted[len(prefix)] in ".(")


def _name_of(func: ast.expr) -> Optional[str]:
    if isinstance(func, ast.Name):
        return func.id
    if isinstance(func, ast.Attribute):
        return func.attr
    return None


def check_source(source: str, module: str, classes: Set[str], is_package: bool = False) -> List[Finding]:
    loaders_allowed = module in (BOOTSTRAP, PLUGIN_MANAGER) or module.startswith(PLUGIN_MANAGER + ".")
    return _Checker(module, is_package, classes, loaders_allowed).check(ast.parse(source))


def findings() -> List[Finding]:
    classes = adapter_classes()
    found: List[Finding] = []
    for package in SCANNED:
        for path in modules(package):
            module = module_name(path)
            if module == BOOTSTRAP:
                continue
            source = path.read_text(encoding="utf-8")
            found += check_source(source, module, classes, is_package=path.name == "__init__.py")
    return found


def test_the_scan_sees_the_builtin_adapters() -> None:
    classes = adapter_classes()
    expected = {"LocalArtifactStore", "FsspecArtifactStore", "HFModelBackend", "TensorBoardTracker"}
    assert expected <= classes
    assert {"WandbTracker", "MlflowTracker", "JsonlBillingSink", "WebhookBillingSink"} <= classes
    assert sum(1 for package in SCANNED for _ in modules(package)) > 100


def test_adapters_are_built_only_in_adapters_and_bootstrap() -> None:
    problems = findings()
    shown = "\n".join(map(str, problems))
    assert not problems, f"Adapters built (or plugins loaded) outside bootstrap:\n{shown}"


CLASSES = {"LocalArtifactStore", "HFModelBackend"}


@pytest.mark.parametrize(
    "source",
    [
        # an import inside a function, called
        "def f(p):\n    from verifily_adapters.local_store.store import LocalArtifactStore\n"
        "    return LocalArtifactStore(p)\n",
        # handed on as a factory
        "from verifily_adapters.local_store.store import LocalArtifactStore as S\ncompare(store_factory=S)\n",
        # through a module alias, used in a method while imported at module level below the class
        "class A:\n    def f(self):\n        return store.LocalArtifactStore('x')\n"
        "import verifily_adapters.local_store.store as store\n",
        # through the package and attribute chain
        "import verifily_adapters\nb = verifily_adapters.hf_backend.backend.HFModelBackend()\n",
        # a submodule imported from its package
        "from verifily_adapters.hf_backend import backend\nbackend.HFModelBackend()\n",
        # a default argument
        "from verifily_adapters.hf_backend.backend import HFModelBackend\n"
        "def f(b=HFModelBackend()):\n    pass\n",
        # the registry loaded directly
        "from verifily_core.plugins import registry\nregistry.load()\n",
        "def f():\n    from verifily_core.bootstrap import plugins\n"
        "    return plugins().artifact_store('x')\n",
        "import verifily_core.plugins.manager as m\nm.PluginRegistry().load()\n",
        "from verifily_core.plugins import PluginRegistry\nr = PluginRegistry()\nr.register(x)\nr.load()\n",
        "import importlib\nimportlib.import_module('verifily_adapters.local_store.store')\n",
        "def f(module, p):\n    return getattr(module, 'LocalArtifactStore')(p)\n",
        "from verifily_adapters.local_store import hooks\nhooks.verifily_register_artifact_store()('runs')\n",
    ],
)
def test_the_scan_finds_each_way_of_building_an_adapter(source: str) -> None:
    assert check_source(source, "verifily_cli.example", CLASSES), source


@pytest.mark.parametrize(
    "source",
    [
        # functions of an adapter module are not adapters
        "from verifily_adapters.atomic import atomic_write_text\natomic_write_text(p, 't')\n",
        # a type check or an annotation builds nothing
        "from verifily_adapters.local_store.store import LocalArtifactStore\n"
        "def f(s: LocalArtifactStore) -> bool:\n    x: LocalArtifactStore = s\n"
        "    return isinstance(s, (LocalArtifactStore, int))\n",
        # a name imported in another function's scope is not this one's
        "def f():\n    from verifily_adapters.local_store.store import LocalArtifactStore\n"
        "def g():\n    return LocalArtifactStore(1)\n",
        # a fresh registry that only checks a module's hooks loads no plugin
        "from verifily_core.plugins import PluginRegistry\ndef t(m):\n    r = PluginRegistry(group='none')\n"
        "    r.register(m)\n    r.check_pending()\n",
        # stores come from bootstrap
        "from verifily_core.bootstrap import open_store\nopen_store('runs')\n",
    ],
)
def test_the_scan_lets_through_what_builds_no_adapter(source: str) -> None:
    assert not check_source(source, "verifily_cli.example", CLASSES), source
