"""The one plugin registry: discovers plugins, keys their classes by ``PLUGIN_NAME``, looks them up.

Plugins (the built-ins included) are modules named by entry points in the ``verifily`` group; each
is loaded on its own, so a third-party plugin that fails to import (a missing dependency, a bug) is
recorded with its distribution and reported by :meth:`PluginRegistry.plugin_report` while every
other plugin keeps working. A name in ``VERIFILY_DISABLE_PLUGINS`` (comma-separated entry point
names, e.g. ``VERIFILY_DISABLE_PLUGINS=wandb,sample``) is never imported at all.

Problems surface where they matter: looking up a name that two plugins provide, or that a broken
class claims, raises :class:`PluginError` naming the plugins and distributions; an unknown name
raises :class:`UnknownPluginError` listing the available ones (and any plugin that failed to load,
since the wanted one may be among them). Nothing is cached: hooks return classes cheaply, and tests
that ``register``/``unregister`` plugins see the change at once.
"""

from __future__ import annotations

import difflib
import os
import threading
from importlib import metadata
from typing import Any, Dict, Iterator, List, Optional, Tuple

import pluggy

from verifily_core.errors import PluginError, UnknownPluginError
from verifily_core.plugins import hookspecs
from verifily_core.plugins.catalog import (
    ARTIFACT_STORE,
    BILLING_SINK,
    MODEL_BACKEND,
    PORTS,
    TRACKER,
    PluginInfo,
    Port,
    Provided,
    Source,
    check_class,
    mark_duplicates,
)
from verifily_core.ports import ArtifactStore, BillingSink, ModelBackend, Tracker

ENTRY_POINT_GROUP = "verifily"
DISABLE_ENV = "VERIFILY_DISABLE_PLUGINS"
_RUNTIME = Source(None, None)


def disabled_plugin_names() -> List[str]:
    """The entry point names listed in ``VERIFILY_DISABLE_PLUGINS``, read now (not at import)."""
    return [n.strip() for n in os.environ.get(DISABLE_ENV, "").split(",") if n.strip()]


class PluginRegistry:
    """A pluggy ``PluginManager("verifily")`` plus typed lookups; see the module docstring.

    The application uses the module-level :data:`registry`; tests build their own instance when
    they need a fresh discovery (for instance under a different ``VERIFILY_DISABLE_PLUGINS``).
    """

    def __init__(self, group: str = ENTRY_POINT_GROUP) -> None:
        self.pm = pluggy.PluginManager(hookspecs.PROJECT)
        self.pm.add_hookspecs(hookspecs)
        self._group = group
        self._sources: Dict[str, Source] = {}
        self._load_problems: List[PluginInfo] = []
        self._loaded = False
        self._lock = threading.RLock()

    # ------------------------------------------------------------------ discovery
    def load(self) -> None:
        """Import every entry point of the group once; later calls do nothing."""
        with self._lock:
            if self._loaded:
                return
            self._loaded = True
            for name in disabled_plugin_names():
                self.pm.set_blocked(name)
            for dist, ep in _entry_points(self._group):
                self._load_entry_point(dist, ep)

    def _load_entry_point(self, dist: metadata.Distribution, ep: metadata.EntryPoint) -> None:
        source = Source(dist.metadata["Name"], dist.version)
        seen = self._sources.get(ep.name)
        if seen is not None:
            # The same distribution can sit twice on sys.path; only a different one is a clash.
            if seen.distribution != source.distribution:
                self._problem(
                    ep,
                    source,
                    f"error: entry point name {ep.name!r} is already taken by "
                    f"{seen.describe(ep.name)}; this one was not loaded",
                )
            return
        self._sources[ep.name] = source
        if self.pm.is_blocked(ep.name):
            self._problem(ep, source, f"disabled by {DISABLE_ENV}")
            return
        try:
            self.pm.register(ep.load(), name=ep.name)
        except Exception as exc:  # any bug in a third-party module must not stop the others
            self._problem(ep, source, f"error: failed to load ({type(exc).__name__}: {exc})")

    def _problem(self, ep: metadata.EntryPoint, source: Source, status: str) -> None:
        self._load_problems.append(
            PluginInfo(
                name=ep.name,
                port=None,
                class_path=ep.value,
                plugin=ep.name,
                distribution=source.distribution,
                version=source.version,
                status=status,
            )
        )

    def register(self, plugin: Any, name: Optional[str] = None) -> str:
        """Register a plugin object (a module or any object with hookimpls); returns its name.

        For tests and embedding applications: such a plugin has no distribution. Loads the entry
        points first so that the order of calls does not change what is found.
        """
        self.load()
        try:
            registered = self.pm.register(plugin, name)
        except (ValueError, pluggy.PluginValidationError) as exc:
            raise PluginError(f"Cannot register plugin {name or plugin!r}: {exc}") from exc
        if registered is None:
            raise PluginError(f"Plugin {name or plugin!r} is disabled by {DISABLE_ENV}.")
        self._sources[registered] = _RUNTIME
        return registered

    def unregister(self, plugin: Any = None, name: Optional[str] = None) -> None:
        """Remove a plugin registered with :meth:`register` (by object or by name)."""
        name = name or self.pm.get_name(plugin)
        if name is not None and self.pm.unregister(plugin=plugin, name=name) is not None:
            self._sources.pop(name, None)

    def check_pending(self) -> None:
        """Raise ``PluginError`` for a hookimpl whose name matches no hookspec (a misspelt hook)."""
        self.load()
        for name, plugin in self.pm.list_name_plugin():
            for hook in self._unknown_hooks(plugin):
                close = difflib.get_close_matches(hook, _hook_names(), n=1)
                raise PluginError(
                    f"{self._source(name).describe(name)} implements {hook!r}, which is not a "
                    "Verifily hook" + (f"; did you mean {close[0]!r}?" if close else "."),
                    hint="Hook names: " + ", ".join(_hook_names()) + ".",
                )

    def _unknown_hooks(self, plugin: Any) -> List[str]:
        return [
            caller.name
            for caller in self.pm.get_hookcallers(plugin) or []
            if not caller.has_spec()
            and any(i.plugin is plugin and not i.optionalhook for i in caller.get_hookimpls())
        ]

    def _source(self, plugin_name: str) -> Source:
        return self._sources.get(plugin_name, _RUNTIME)

    # ------------------------------------------------------------------ classes per port
    def _provided(self, port: Port) -> List[Provided]:
        self.load()
        found: List[Provided] = []
        for impl in getattr(self.pm.hook, port.hook).get_hookimpls():
            source = self._source(impl.plugin_name)
            try:
                result = impl.function()
            except Exception as exc:
                found.append(
                    Provided(
                        impl.plugin_name,
                        impl.plugin_name,
                        source,
                        None,
                        f"{source.describe(impl.plugin_name)}: {port.hook}() raised "
                        f"{type(exc).__name__}: {exc}",
                    )
                )
                continue
            for obj in result if isinstance(result, (list, tuple)) else [result]:
                if obj is not None:
                    found.append(check_class(port, impl.plugin_name, source, obj))
        return mark_duplicates(found)

    def _lookup(self, port: Port, name: str) -> Any:
        provided = self._provided(port)
        matches = [p for p in provided if p.name == name]
        if not matches:
            error = UnknownPluginError(port.label, name, sorted(p.name for p in provided if p.ok))
            broken = [p.error_message(port) for p in provided if not p.ok] + [
                f"{Source(p.distribution, p.version).describe(p.plugin)}: {p.status[len('error: ') :]}"
                for p in self._load_problems
                if p.status.startswith("error: ")
            ]
            if broken:
                error.hint = "Broken plugins (the one you want may be among them): " + "; ".join(broken)
            raise error
        for p in matches:
            if not p.ok:
                raise PluginError(p.error_message(port), hint=_FIX_HINT)
        return matches[0].cls

    def _all(self, port: Port) -> List[Any]:
        provided = self._provided(port)
        for p in provided:
            if p.duplicate:
                raise PluginError(p.error_message(port), hint=_FIX_HINT)
        return [p.cls for p in sorted(provided, key=lambda p: p.name) if p.ok]

    # ------------------------------------------------------------------ typed lookups
    def model_backend(self, name: str) -> type[ModelBackend]:
        """The backend class a config's ``backend`` names."""
        cls: type[ModelBackend] = self._lookup(MODEL_BACKEND, name)
        return cls

    def artifact_store(self, name: str) -> type[ArtifactStore]:
        """The store class a config's ``store`` names."""
        cls: type[ArtifactStore] = self._lookup(ARTIFACT_STORE, name)
        return cls

    def tracker(self, name: str) -> type[Tracker]:
        """The tracker class one entry of a config's ``trackers`` names."""
        cls: type[Tracker] = self._lookup(TRACKER, name)
        return cls

    def trackers(self) -> List[type[Tracker]]:
        """Every working tracker class, sorted by name; broken ones are only reported."""
        return self._all(TRACKER)

    def billing_sinks(self) -> List[type[BillingSink]]:
        """Every working billing sink class, sorted by name (each decides via from_environment)."""
        return self._all(BILLING_SINK)

    # ------------------------------------------------------------------ report
    def plugin_report(self) -> List[PluginInfo]:
        """One row per class provided, per plugin that failed or is disabled; never raises."""
        self.load()
        rows = list(self._load_problems)
        for port in PORTS:
            rows.extend(p.info(port) for p in self._provided(port))
        for name, plugin in self.pm.list_name_plugin():
            for hook in self._unknown_hooks(plugin):
                source = self._source(name)
                rows.append(
                    PluginInfo(
                        name=name,
                        port=None,
                        class_path=_object_path(plugin),
                        plugin=name,
                        distribution=source.distribution,
                        version=source.version,
                        status=f"error: implements unknown hook {hook!r}",
                    )
                )
        return sorted(rows, key=lambda r: (r.port or "~", r.name, r.plugin))


_FIX_HINT = f"Uninstall or fix the plugin, or block it with {DISABLE_ENV}=<plugin name>."


def _entry_points(group: str) -> Iterator[Tuple[metadata.Distribution, metadata.EntryPoint]]:
    """Entry points of ``group`` with their distribution (like pluggy's own loader, one by one)."""
    for dist in metadata.distributions():
        for ep in dist.entry_points:
            if ep.group == group:
                yield dist, ep


def _hook_names() -> List[str]:
    return sorted(n for n in vars(hookspecs) if n.startswith("verifily_register_"))


def _object_path(obj: Any) -> str:
    return getattr(obj, "__name__", None) or type(obj).__qualname__


registry = PluginRegistry()
"""The application's registry; ``registry.load()`` is implied by every lookup."""
