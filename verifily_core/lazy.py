"""Package attributes that import their module on first use (PEP 562).

Why: ``verifily --help``, ``reproduce --verify-only`` and ``accelerate launch -m verifily_train.cli``
import our packages first; eager re-exports would load pydantic, numpy and the rest before a single
flag is parsed.
"""

from __future__ import annotations

from importlib import import_module
from typing import Any, Callable, Dict, MutableMapping


def lazy_getattr(
    package: str, exports: Dict[str, str], namespace: MutableMapping[str, Any]
) -> Callable[[str], Any]:
    """A module ``__getattr__`` resolving ``exports`` (name -> module) and caching in ``namespace``."""

    def __getattr__(name: str) -> Any:
        module = exports.get(name)
        if module is None:
            raise AttributeError(f"module {package!r} has no attribute {name!r}")
        value = getattr(import_module(module), name)
        namespace[name] = value
        return value

    return __getattr__
