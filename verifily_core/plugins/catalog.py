"""What the plugin registry knows about each class: which port, which plugin, which distribution.

Kept apart from the registry so that the rules a class must follow (subclass the port's ABC, carry
a ``PLUGIN_NAME``, not share it with another plugin) read in one place, as plain values.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, replace
from typing import Any, Dict, List, Optional

from verifily_core.ports import ArtifactStore, BillingSink, ModelBackend, StudyEngine, Tracker


@dataclass(frozen=True)
class Port:
    """One plugin type: its key in reports, its words in messages, its ABC and its hook."""

    key: str
    label: str
    base: type
    hook: str


MODEL_BACKEND = Port("model_backend", "model backend", ModelBackend, "verifily_register_model_backend")
ARTIFACT_STORE = Port("artifact_store", "artifact store", ArtifactStore, "verifily_register_artifact_store")
TRACKER = Port("tracker", "tracker", Tracker, "verifily_register_tracker")
BILLING_SINK = Port("billing_sink", "billing sink", BillingSink, "verifily_register_billing_sink")
STUDY_ENGINE = Port("study_engine", "study engine", StudyEngine, "verifily_register_study_engine")
PORTS = (MODEL_BACKEND, ARTIFACT_STORE, TRACKER, BILLING_SINK, STUDY_ENGINE)


@dataclass(frozen=True)
class PluginInfo:
    """One row of ``verifily plugins``.

    ``name`` is the ``PLUGIN_NAME`` a config selects (the plugin's own name when it has none or
    failed before providing a class); ``plugin`` is the entry point name that
    ``VERIFILY_DISABLE_PLUGINS`` takes; ``port`` is None when the plugin never got as far as
    providing a class; ``distribution``/``version`` are None for plugins registered at runtime.
    ``status`` is ``ok``, ``disabled by VERIFILY_DISABLE_PLUGINS`` or ``error: <why>``.
    """

    name: str
    port: Optional[str]
    class_path: str
    plugin: str
    distribution: Optional[str]
    version: Optional[str]
    status: str

    @property
    def ok(self) -> bool:
        return self.status == "ok"


@dataclass(frozen=True)
class Source:
    """The distribution a plugin was installed from (both None: registered at runtime)."""

    distribution: Optional[str]
    version: Optional[str]

    def describe(self, plugin: str) -> str:
        if self.distribution is None:
            return f"plugin {plugin!r} (registered at runtime)"
        return f"plugin {plugin!r} from distribution {self.distribution} {self.version}"


@dataclass(frozen=True)
class Provided:
    """A class one plugin returned for one port, or why it is unusable (``error``)."""

    name: str
    plugin: str
    source: Source
    cls: Optional[type]
    error: Optional[str] = None
    duplicate: bool = False

    @property
    def ok(self) -> bool:
        return self.error is None and self.cls is not None

    def error_message(self, port: Port) -> str:
        return f"{port.label.capitalize()} {self.name!r}: {self.error}"

    def info(self, port: Port) -> PluginInfo:
        return PluginInfo(
            name=self.name,
            port=port.key,
            class_path=class_path(self.cls) if self.cls else "",
            plugin=self.plugin,
            distribution=self.source.distribution,
            version=self.source.version,
            status="ok" if self.ok else f"error: {self.error}",
        )


def class_path(obj: Any) -> str:
    """``module:QualName``, the form entry points use."""
    return f"{getattr(obj, '__module__', '?')}:{getattr(obj, '__qualname__', repr(obj))}"


def check_class(port: Port, plugin: str, source: Source, obj: Any) -> Provided:
    """Accept ``obj`` only if it is a class of the port with a usable ``PLUGIN_NAME``."""
    name = getattr(obj, "PLUGIN_NAME", None) if isinstance(obj, type) else None
    named = isinstance(name, str) and bool(name)
    key: str = name if isinstance(name, str) and name else plugin
    where = source.describe(plugin)
    if not (isinstance(obj, type) and issubclass(obj, port.base)):
        what = f"class {class_path(obj)}" if isinstance(obj, type) else f"{type(obj).__name__} {obj!r}"
        return Provided(
            key,
            plugin,
            source,
            obj if isinstance(obj, type) else None,
            f"{where} returned {what} from {port.hook}(), which is not a subclass of {port.base.__name__}",
        )
    if not named:
        return Provided(
            key,
            plugin,
            source,
            obj,
            f"{where} returned class {class_path(obj)} without a PLUGIN_NAME string "
            "(the name a config selects it by)",
        )
    return Provided(key, plugin, source, obj)


def mark_duplicates(found: List[Provided]) -> List[Provided]:
    """Turn every class whose ``PLUGIN_NAME`` another working class also claims into an error."""
    by_name: Dict[str, List[Provided]] = defaultdict(list)
    for p in found:
        if p.ok:
            by_name[p.name].append(p)
    out = []
    for p in found:
        rivals = [r for r in by_name.get(p.name, []) if r is not p] if p.ok else []
        if rivals:
            who = " and ".join(r.source.describe(r.plugin) for r in [p, *rivals])
            p = replace(p, duplicate=True, error=f"PLUGIN_NAME {p.name!r} is claimed by {who}")
        out.append(p)
    return out
