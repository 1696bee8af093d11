"""Search spaces for ``verifily tune``: ``--param "dotted.key=v1,v2,v3"`` specs, typed by the schema.

Why every value is typed and checked here, before any trial: a search trains for hours, and a
misspelt key or a ``lora.r=abc`` found at trial 7 wastes the first six. Each value is read exactly
as a ``verifily train`` override is (:meth:`TrainConfig.apply_overrides`), so ``1e-5`` is a float
for ``training.learning_rate``, ``8`` an int for ``lora.r``, ``true`` a bool, ``null`` None, and a
value the schema refuses is named with the reason. Values are scalars (text, numbers, booleans,
null): that is what a search samples from, and what Optuna can store.
"""

from __future__ import annotations

import itertools
import math
from dataclasses import dataclass
from typing import Any, Dict, List, Mapping, Sequence, Tuple, Union

from verifily_core.config import TrainConfig
from verifily_core.config.validation import suggest
from verifily_core.errors import ConfigError, TuneError

Scalar = Union[None, bool, int, float, str]
SPEC_FORMAT = '"dotted.key=value1,value2,..." (e.g. "training.learning_rate=1e-5,5e-5")'
# keys a search cannot vary, and why
RESERVED = {"name": "every trial is named tune_trial_<k> by the search"}


@dataclass(frozen=True)
class SearchParam:
    """One searched key and its typed candidate values, in the order the user gave them."""

    key: str
    values: Tuple[Scalar, ...]


@dataclass(frozen=True)
class SearchSpace:
    """The searched keys (in the user's order); a trial picks one value of each."""

    params: Tuple[SearchParam, ...]

    @property
    def keys(self) -> List[str]:
        return [p.key for p in self.params]

    @property
    def size(self) -> int:
        """How many distinct combinations: the grid's trial count."""
        return math.prod(len(p.values) for p in self.params)

    def combinations(self) -> List[Dict[str, Scalar]]:
        """Every combination, first key varying slowest (the order of ``itertools.product``)."""
        return [dict(zip(self.keys, combo)) for combo in itertools.product(*(p.values for p in self.params))]

    def to_dict(self) -> Dict[str, List[Scalar]]:
        """``{key: [values]}``, JSON-ready; :meth:`from_dict` reads it back without re-typing."""
        return {p.key: list(p.values) for p in self.params}

    @classmethod
    def from_dict(cls, data: Mapping[str, Sequence[Scalar]]) -> SearchSpace:
        return cls(tuple(SearchParam(k, tuple(v)) for k, v in data.items()))


def parse_spec(spec: str) -> Tuple[str, List[str]]:
    """``"lora.r=8,16"`` -> ``("lora.r", ["8", "16"])``; TuneError naming what is malformed."""
    key, sep, raw = spec.partition("=")
    key = key.strip()
    if not sep or not key:
        raise TuneError(
            f"Bad --param {spec!r}: expected {SPEC_FORMAT}.",
            hint="Write the dotted config key, '=', then the values separated by commas.",
        )
    if not raw.strip():
        raise TuneError(
            f"Bad --param {spec!r}: no values after '='.",
            hint=f'List the values to try, e.g. "{key}=value1,value2".',
        )
    values = [v.strip() for v in raw.split(",")]
    empty = [i + 1 for i, v in enumerate(values) if not v]
    if empty:
        raise TuneError(
            f"Bad --param {spec!r}: value number {empty[0]} is empty.",
            hint="Remove the stray comma; write null for a null value.",
        )
    return key, values


def space_from_specs(specs: Sequence[str], config: TrainConfig) -> SearchSpace:
    """The typed space of the CLI's repeatable ``--param`` specs, checked against ``config``."""
    items = []
    for spec in specs:
        key, values = parse_spec(spec)
        items.append((f"--param {spec!r}", key, list(values)))
    return _build(items, config)


def space_from_grid(grid: Mapping[str, Any], config: TrainConfig) -> SearchSpace:
    """The typed space of the Python API's ``param_grid`` (``{"lora.r": [8, 16]}``)."""
    items = []
    for key, values in grid.items():
        where = f"param_grid[{key!r}]"
        if isinstance(values, (str, bytes)) or not isinstance(values, Sequence):
            raise TuneError(
                f"{where} must be a list of values, got {values!r}.",
                hint=f'Write e.g. {{"{key}": [value1, value2]}}.',
            )
        if not values:
            raise TuneError(f"{where} lists no values.", hint="Give at least one value to try.")
        items.append((where, str(key), list(values)))
    return _build(items, config)


def _build(items: List[Tuple[str, str, List[Any]]], config: TrainConfig) -> SearchSpace:
    if not items:
        raise TuneError(
            "Nothing to search: no parameter was given.", hint=f"Give at least one --param {SPEC_FORMAT}."
        )
    flat = config.flat()
    seen: Dict[str, str] = {}
    params = []
    for where, key, raw_values in items:
        _check_key(where, key, flat)
        if key in seen:
            raise TuneError(
                f"'{key}' is searched twice ({seen[key]} and {where}).",
                hint="List all its values in one --param.",
            )
        seen[key] = where
        params.append(SearchParam(key, _typed_values(where, key, raw_values, config)))
    return SearchSpace(tuple(params))


def _check_key(where: str, key: str, flat: Mapping[str, Any]) -> None:
    if key in RESERVED:
        raise TuneError(f"{where}: '{key}' cannot be searched: {RESERVED[key]}.")
    if key in flat:
        return
    section_keys = [k for k in flat if k.startswith(key + ".")]
    if section_keys:
        raise TuneError(
            f"{where}: '{key}' is a config section; search one of its keys, e.g. '{section_keys[0]}'."
        )
    leaf = key.rsplit(".", 1)[-1]
    same_leaf = [k for k in flat if k.rsplit(".", 1)[-1] == leaf]
    suggestion = f" Did you mean '{same_leaf[0]}'?" if same_leaf else suggest(key, list(flat))
    raise TuneError(
        f"{where}: unknown config key '{key}'.{suggestion}",
        hint="Use a dotted key of the config schema (docs/config.md), e.g. training.learning_rate or lora.r.",
    )


def _typed_values(where: str, key: str, raw_values: List[Any], config: TrainConfig) -> Tuple[Scalar, ...]:
    typed: List[Scalar] = []
    for raw in raw_values:
        try:
            value = config.apply_overrides({key: raw}).flat()[key]
        except ConfigError as exc:
            reason = exc.message.split(": ", 1)[-1]
            raise TuneError(
                f"{where}: {raw!r} is not a valid value for '{key}': {reason}",
                hint=f"Current value of {key} in the config: {config.flat()[key]!r}.",
            ) from None
        if isinstance(value, (list, dict)):
            raise TuneError(
                f"{where}: '{key}' holds a list; only single values (numbers, text, true/false, "
                "null) can be searched."
            )
        if value in typed:
            raise TuneError(
                f"{where}: the value {value!r} of '{key}' is listed twice "
                f"(as {raw!r} and an earlier spelling).",
                hint="List each value once.",
            )
        typed.append(value)
    return tuple(typed)


__all__ = [
    "SPEC_FORMAT",
    "Scalar",
    "SearchParam",
    "SearchSpace",
    "parse_spec",
    "space_from_grid",
    "space_from_specs",
]
