"""Option parsing that several commands share: comma lists, ``--set KEY=VALUE``, ``--verbose``, and
the rule that ``--resume`` takes no flag that would change what it continues.

One module so that a flag which means the same thing in two commands is parsed the same way in both.
It imports only typer and the core's errors: ``verifily --help`` loads it with every command module.
"""

from __future__ import annotations

from typing import Any, Dict, Mapping, Optional

import typer

from verifily_core.errors import ConfigError, VerifilyError


def verbose_option() -> Any:
    """The ``--verbose``/``-v`` flag every command takes (a fresh typer option per command)."""
    return typer.Option(False, "--verbose", "-v", help="Enable DEBUG logging and tracebacks.")


def split_csv(value: Optional[str]) -> Optional[list[str]]:
    """``"a, b,,c"`` → ``["a", "b", "c"]``; None or empty → None."""
    if not value:
        return None
    items = [v.strip() for v in value.split(",") if v.strip()]
    return items or None


def set_overrides(items: Optional[list[str]]) -> Dict[str, Any]:
    """``--set key=value`` (repeatable) as dotted config overrides; ConfigError for a malformed one."""
    overrides: Dict[str, Any] = {}
    for item in items or []:
        key, sep, value = item.partition("=")
        if not sep or not key.strip():
            raise ConfigError(f"--set expects key=value, got {item!r}", hint="Example: --set lora.alpha=64")
        overrides[key.strip()] = value
    return overrides


def refuse_flags_on_resume(
    flags: Mapping[str, object],
    error: type[VerifilyError],
    *,
    resumed: str,
    hint: str,
    defaults: Optional[Mapping[str, object]] = None,
) -> None:
    """``--resume`` continues what a folder saved (its config and flags): a flag that would change it
    is refused by name instead of being silently ignored.

    ``flags`` maps each flag as the user types it to its value; a flag counts as given when its value
    differs from its entry in ``defaults`` (None when it has none), so ``--strategy grid`` (the
    default) passes while ``--strategy tpe`` does not. ``resumed`` says what is continued, ``hint``
    where its settings come from.
    """
    defaults = defaults or {}
    given = [flag for flag, value in flags.items() if value != defaults.get(flag)]
    if given:
        raise error(f"--resume continues {resumed}; it takes no {', '.join(given)}.", hint=hint)
