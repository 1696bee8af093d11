"""The one plugin registry: discovers plugins, keys their classes by ``PLUGIN_NAME``, looks them up.

Plugins (the built-ins included) are modules named by entry points in the ``verifily`` group; each
is loaded on its own, so a third-party plugin that fails to import (a missing dependency, a bug) is
recorded with its distribution and reported by :meth:`PluginRegistry.plugin_report` while every
other plugin keeps working. A name in ``VERIFILY_DISABLE_PLUGINS`` (comma-separated entry point
names, e.g. ``VERIFILY_DISABLE_PLUGINS=wandb,sample``) is never imported at all.

Problems surface where they matter: looking up a name that two plugins provide, or that a broken
class claims, raises :class:`PluginError` naming the plugins and distributions; an unknown name
raises :class:`UnknownPluginError` listing the available ones (and any plugin that failed to load,
since the wanted one may be among them).

A hook whose name matches no hookspec (``verifily_register_modelbackend``) is pluggy's "pending"
hook. It is checked when the plugins load, and like a plugin that fails to import it does not stop
the others: the load logs one warning naming the plugin, its distribution, the hook and the closest
real hook name; ``verifily plugins`` shows it as an error row; the plugin's correct hooks keep
working; and looking up the name that plugin was meant to provide raises that same message as a
:class:`PluginError` (exit code 2) instead of a bare "no such backend". :meth:`PluginRegistry.check_pending`
raises it at once, for a plugin author's own tests. Nothing is cached: hooks return classes cheaply, and tests
that ``register``/``unregister`` plugins see the change at once.
"""

from __future__ import annotations

import difflib
import logging
import os
import threading
from importlib import metadata
from typing import Any, Dict, Iterator, List, Optional, Tuple

import pluggy
from pydantic import BaseModel

from verifily_core.errors import PluginError, UnknownPluginError
from verifily_core.plugins import hookspecs
from verifily_core.plugins.catalog import (
    ARTIFACT_STORE,
    BILLING_SINK,
    MODEL_BACKEND,
    PORTS,
    STUDY_ENGINE,
    TRACKER,
    PluginInfo,
    Port,
    Provided,
    Source,
    check_class,
    mark_duplicates,
)
from verifily_core.ports import ArtifactStore, BillingSink, ModelBackend, StudyEngine, Tracker

log = logging.getLogger("verifily")

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
            for _, message in self._pending():
                log.warning("%s; that hook is ignored (`verifily plugins` lists it).", message)

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
        for _, message in self._pending():
            raise PluginError(message, hint=_HOOKS_HINT)

    def _pending(self) -> List[Tuple[str, str]]:
        """``(plugin name, message)`` per hook of a registered plugin that matches no hookspec."""
        return [
            (name, f"{self._source(name).describe(name)} {_unknown_hook_problem(hook)}")
            for name, plugin in self.pm.list_name_plugin()
            for hook in self._unknown_hooks(plugin)
        ]

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
            pending = self._pending()
            for plugin, message in pending:
                if plugin == name:  # the plugin meant to provide `name` misspelt a hook
                    raise PluginError(
                        f"{port.label.capitalize()} {name!r} is not available: {message}", hint=_HOOKS_HINT
                    )
            error = UnknownPluginError(port.label, name, sorted(p.name for p in provided if p.ok))
            broken = (
                [p.error_message(port) for p in provided if not p.ok]
                + [
                    f"{Source(p.distribution, p.version).describe(p.plugin)}: {p.status[len('error: ') :]}"
                    for p in self._load_problems
                    if p.status.startswith("error: ")
                ]
                + [message for _, message in pending]
            )
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

    def study_engine(self, name: str) -> type[StudyEngine]:
        """The study engine ``verifily tune`` keeps its studies in (``optuna`` unless told)."""
        cls: type[StudyEngine] = self._lookup(STUDY_ENGINE, name)
        return cls

    def trackers(self) -> List[type[Tracker]]:
        """Every working tracker class, sorted by name; broken ones are only reported."""
        return self._all(TRACKER)

    def billing_sinks(self) -> List[type[BillingSink]]:
        """Every working billing sink class, sorted by name (each decides via from_environment)."""
        return self._all(BILLING_SINK)

    # ------------------------------------------------------------------ config sections
    def plugin_names(self) -> List[str]:
        """The names of the registered plugins (entry point names), sorted."""
        self.load()
        return sorted(name for name, _ in self.pm.list_name_plugin())

    def unloaded_plugins(self) -> Dict[str, str]:
        """``{entry point name: why}`` for the plugins that were disabled or failed to load."""
        self.load()
        return {p.plugin: p.status for p in self._load_problems}

    def config_schemas(self) -> Dict[str, type[BaseModel]]:
        """``{plugin name: pydantic model}`` of every plugin that declares a ``plugins.<name>`` section.

        Raises ``PluginError`` naming the plugin when its hook fails or returns something other
        than a pydantic model class: a config that uses the section cannot be checked without it.
        """
        self.load()
        schemas: Dict[str, type[BaseModel]] = {}
        for impl in self.pm.hook.verifily_plugin_config_schema.get_hookimpls():
            where = self._source(impl.plugin_name).describe(impl.plugin_name)
            try:
                schema = impl.function()
            except Exception as exc:
                raise PluginError(
                    f"{where}: verifily_plugin_config_schema() raised {type(exc).__name__}: {exc}",
                    hint=_FIX_HINT,
                ) from exc
            if schema is None:
                continue
            if not (isinstance(schema, type) and issubclass(schema, BaseModel)):
                raise PluginError(
                    f"{where} returned {schema!r} from verifily_plugin_config_schema(), which is not "
                    "a pydantic model class",
                    hint=_FIX_HINT,
                )
            schemas[impl.plugin_name] = schema
        return schemas

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
                        status=f"error: unknown hook: {_unknown_hook_problem(hook)}",
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
    """Every hookspec's name (the functions pluggy's marker tagged), sorted."""
    marker = f"{hookspecs.PROJECT}_spec"
    return sorted(n for n, obj in vars(hookspecs).items() if callable(obj) and hasattr(obj, marker))


def _unknown_hook_problem(hook: str) -> str:
    """What is wrong with a hook name that matches no hookspec, and the closest real one."""
    close = difflib.get_close_matches(hook, _hook_names(), n=1)
    return f"implements {hook!r}, which is not a Verifily hook" + (
        f"; did you mean {close[0]!r}?" if close else ""
    )


_HOOKS_HINT = (
    "Rename the hook to one of "
    + ", ".join(_hook_names())
    + f", or block the plugin with {DISABLE_ENV}=<plugin name>."
)


def _object_path(obj: Any) -> str:
    return getattr(obj, "__name__", None) or type(obj).__qualname__


registry = PluginRegistry()
"""The application's registry; ``registry.load()`` is implied by every lookup."""
