"""The one error tree of Verifily Train.

Every failure the core can foresee is raised as a subclass of :class:`VerifilyError`; adapters
translate vendor exceptions into these with ``raise BackendError(...) from exc`` so that callers
(the CLI, the dashboard, plugin authors) need to know one tree only::

    VerifilyError                 base; ``message`` + optional ``hint``; CLI exit code 2
    ├── ConfigError               a config file, key or override is wrong (names the dotted key)
    ├── DataError                 a data file is missing or has bad rows (names file and line)
    ├── StoreError                a run folder cannot be created, read or written
    │   ├── RunNotFoundError      a run path or id that does not exist
    │   └── UnsafePathError       a run-folder path leaves the folder or is not a regular file
    ├── IntegrityError            a run folder no longer matches its seal (exit 1, like a FAIL)
    ├── BackendError              the model backend failed (model not found, device unusable, ...)
    │   └── DependencyMissingError  an optional package is not installed (hint: the pip extra)
    ├── EvaluationError           evaluation inputs are inconsistent (unknown metric, no test data)
    ├── CompareError              runs cannot be compared (missing eval results, mixed tasks)
    ├── TuneError                 a search space or study is invalid
    ├── AttributionError          an attribution study cannot run (no such tag, no test set, budget)
    ├── TrackerError              an experiment tracker failed (never fails a run; logged)
    ├── BillingError              a billing sink failed (never fails a run; logged)
    └── PluginError               a plugin is broken or clashes with another
        └── UnknownPluginError    a plugin name that no installed plugin provides

``exit_code`` says how the CLI ends: 2 for user errors (everything above by default); a negative
verdict such as ``reproduce`` FAIL is not an error and is returned as data instead.
"""

from __future__ import annotations

from typing import Optional, Sequence


class VerifilyError(Exception):
    """Base of every foreseen failure; ``hint`` tells the user how to fix it."""

    exit_code: int = 2

    def __init__(self, message: str, *, hint: Optional[str] = None) -> None:
        super().__init__(message)
        self.message = message
        self.hint = hint

    def __str__(self) -> str:
        return self.message


class ConfigError(VerifilyError):
    """A config file, key or override is invalid; ``key`` is the dotted path when known."""

    def __init__(self, message: str, *, key: Optional[str] = None, hint: Optional[str] = None) -> None:
        super().__init__(message, hint=hint)
        self.key = key


class DataError(VerifilyError):
    """A data file is missing, unreadable or holds invalid rows.

    ``problems`` lists one line per bad row (``file:line: field: what was expected``), capped by the
    raiser so that a user sees many problems at once rather than one per attempt.
    """

    def __init__(self, message: str, *, problems: Sequence[str] = (), hint: Optional[str] = None) -> None:
        full = message if not problems else message + "\n" + "\n".join(f"  {p}" for p in problems)
        super().__init__(full, hint=hint)
        self.problems = list(problems)


class StoreError(VerifilyError):
    """A run folder cannot be created, read or written."""


class RunNotFoundError(StoreError):
    """A run path or run id that does not exist."""


class UnsafePathError(StoreError):
    """A path taken from a run folder leaves it (``..``, absolute, a symlink out) or is not a regular
    file (FIFO, device): refused before anything is read or written."""


class IntegrityError(VerifilyError):
    """A run folder's files differ from its seal (``hashes.json``), found before anything was loaded.

    Exit code 1, as for a ``reproduce`` FAIL: it is a negative verdict on the run, not a usage error.
    ``problems`` names each file that was changed, added or removed.
    """

    exit_code = 1

    def __init__(self, message: str, *, problems: Sequence[str] = (), hint: Optional[str] = None) -> None:
        full = message if not problems else message + "\n" + "\n".join(f"  {p}" for p in problems)
        super().__init__(full, hint=hint)
        self.problems = list(problems)


class BackendError(VerifilyError):
    """The model backend failed in a way the user can act on."""


class DependencyMissingError(BackendError):
    """An optional package is missing; the hint names the pip extra that brings it."""


class EvaluationError(VerifilyError):
    """Evaluation inputs are inconsistent (unknown metric, missing test data, bad slice key)."""


class CompareError(VerifilyError):
    """Runs cannot be compared (fewer than two, missing eval results, different tasks)."""


class TuneError(VerifilyError):
    """A search space, strategy or study is invalid."""


class AttributionError(VerifilyError):
    """An attribution study (``verifily attribute``) is invalid: unknown tag key, no test set, budget."""


class TrackerError(VerifilyError):
    """An experiment tracker failed; the train use case logs it and carries on."""


class BillingError(VerifilyError):
    """A billing sink failed; the billing tracker logs it and carries on."""


class PluginError(VerifilyError):
    """A plugin failed to load, has no ``PLUGIN_NAME``, or clashes with another plugin's name."""


class UnknownPluginError(PluginError):
    """No installed plugin provides the requested name; the message lists the available ones."""

    def __init__(self, port: str, name: str, available: Sequence[str]) -> None:
        names = ", ".join(sorted(available)) or "none"
        super().__init__(
            f"No {port} plugin named {name!r}. Available: {names}.",
            hint="Install the plugin's package, or pick one of the available names.",
        )
        self.port = port
        self.name = name
        self.available = list(available)
