"""Turning bad keys and values into ConfigErrors that name the dotted key and suggest a fix.

Why separate from the schema: pydantic's own messages name union branches and internal locations
(``training.lr_scheduler.str``) and never suggest the key the user meant; this module rewrites
them into the one-line, did-you-mean errors the CLI shows.
"""

from __future__ import annotations

import difflib
from typing import Any, List, Mapping, Optional, TypeVar

from pydantic import BaseModel, ValidationError

from verifily_core.errors import ConfigError

M = TypeVar("M", bound=BaseModel)


def section_model(model: type[BaseModel], name: str) -> Optional[type[BaseModel]]:
    """The model of a nested section, or None when ``name`` is a plain value."""
    annotation = model.model_fields[name].annotation
    return annotation if isinstance(annotation, type) and issubclass(annotation, BaseModel) else None


def suggest(name: str, choices: List[str]) -> str:
    """`` Did you mean 'x'?`` for the closest choice, or an empty string when none is close."""
    close = difflib.get_close_matches(name, choices, n=1, cutoff=0.6)
    return f" Did you mean '{close[0]}'?" if close else ""


def unknown_key(dotted: str, name: str, fields: List[str], where: str = "") -> ConfigError:
    """The error for a key the schema does not have, with a did-you-mean and the allowed keys."""
    return ConfigError(
        f"Unknown config key '{dotted}'{where}.{suggest(name, fields)}",
        key=dotted,
        hint=f"Keys allowed here: {', '.join(fields)}.",
    )


def reject_unknown_keys(model: type[BaseModel], data: Mapping[str, Any], prefix: str, where: str) -> None:
    """Fail on the first unknown key, before pydantic, whose own message suggests nothing."""
    fields = list(model.model_fields)
    for key, value in data.items():
        dotted = f"{prefix}{key}"
        if key not in fields:
            raise unknown_key(dotted, str(key), fields, where)
        sub = section_model(model, key)
        if sub is not None and isinstance(value, Mapping):
            reject_unknown_keys(sub, value, dotted + ".", where)


def check_dotted_key(model: type[BaseModel], key: str) -> None:
    """An override key must name a value: not an unknown key, not a whole section."""
    current: type[BaseModel] = model
    parts = key.split(".")
    for i, part in enumerate(parts):
        fields = list(current.model_fields)
        dotted = ".".join(parts[: i + 1])
        if part not in fields:
            raise unknown_key(dotted, part, fields)
        sub = section_model(current, part)
        if i < len(parts) - 1:
            if sub is None:
                raise ConfigError(f"'{dotted}' is a value, not a section: cannot set '{key}'.", key=key)
            current = sub
        elif sub is not None:
            example = f"{key}.{next(iter(sub.model_fields))}"
            raise ConfigError(f"'{key}' is a section; set one of its keys, e.g. '{example}'.", key=key)


def validate_section(model: type[M], data: Any, prefix: str, where: str) -> M:
    """``data`` checked by ``model`` as the section at dotted key ``prefix`` (a plugin's section).

    The same errors as the built-in sections (did-you-mean for unknown keys, the dotted key of a
    bad value) plus a hint listing the section's keys with their types and defaults, since a
    plugin's keys are documented only in its own README.
    """
    if not isinstance(data, Mapping):
        raise ConfigError(
            f"Invalid value for '{prefix}'{where}: expected a mapping of keys, got {type(data).__name__}.",
            key=prefix,
            hint=f"Write '{prefix}' as a mapping of its keys: {_keys_help(model)}.",
        )
    keys = f"Keys of '{prefix}': {_keys_help(model)}."
    try:
        reject_unknown_keys(model, data, prefix + ".", where)
    except ConfigError as unknown:
        unknown.hint = keys
        raise
    try:
        return model.model_validate(dict(data))
    except ValidationError as exc:
        error = config_error(exc, where, prefix=prefix + ".")
        error.hint = f"{error.hint} {keys}" if error.hint else keys
        raise error from None


def _keys_help(model: type[BaseModel]) -> str:
    """``name (type, default 1.0): description`` for each field, for a hint."""
    parts = []
    for name, field in model.model_fields.items():
        kind = getattr(field.annotation, "__name__", None) or str(field.annotation).replace("typing.", "")
        default = (
            "required" if field.is_required() else f"default {field.get_default(call_default_factory=True)!r}"
        )
        about = f": {field.description}" if field.description else ""
        parts.append(f"{name} ({kind}, {default}){about}")
    return "; ".join(parts) if parts else "none"


def config_error(exc: ValidationError, where: str, prefix: str = "") -> ConfigError:
    """The first pydantic error as a ConfigError naming its dotted key (and how many more there are)."""
    first = exc.errors()[0]
    key = prefix + _clean_loc(first["loc"])
    msg = first["msg"].removeprefix("Value error, ")
    if first["type"] == "missing":
        return ConfigError(
            f"Missing required config key '{key}'{where}.", key=key, hint=f"Add '{key}: ...' to the config."
        )
    value = first.get("input")
    shown = f" (got {value!r})" if first["type"] != "value_error" and not isinstance(value, Mapping) else ""
    more = f" (and {len(exc.errors()) - 1} more problem(s))" if len(exc.errors()) > 1 else ""
    return ConfigError(f"Invalid value for '{key}'{where}: {msg}{shown}{more}", key=key)


def _clean_loc(loc: tuple[Any, ...]) -> str:
    # pydantic adds union branch names ("str", "list[str]", "literal[...]") to the location
    branch_names = ("str", "list", "int", "float")
    parts = [
        str(p) for p in loc if isinstance(p, str) and not any(c in p for c in "[]") and p not in branch_names
    ]
    return ".".join(parts) if parts else "<root>"
