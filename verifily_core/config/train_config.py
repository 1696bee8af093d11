"""TrainConfig: the whole config, read from YAML or a mapping, overridden by dotted keys, serialised.

Why one canonical serialisation: the frozen copy saved in a run folder is hashed, and the hash must
not depend on key order or on how a number was spelt (``2e-4`` and ``0.0002`` hash the same).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Dict, List, Literal, Mapping, Optional, TypeVar, Union, get_args

import yaml
from pydantic import BaseModel, Field, PrivateAttr, ValidationError

from verifily_core.config.sections import (
    Compute,
    DataPaths,
    Eval,
    Lora,
    Mlflow,
    Output,
    Section,
    Training,
    Wandb,
)
from verifily_core.config.validation import (
    check_dotted_key,
    config_error,
    reject_unknown_keys,
    section_model,
    validate_section,
)
from verifily_core.config.yaml_load import YamlTooLargeError, safe_load
from verifily_core.errors import ConfigError

TaskName = Literal["sft", "classification"]
LATER_SECTIONS = ("mlflow", "plugins")
PLUGINS_KEY = "plugins"
S = TypeVar("S", bound=BaseModel)


class TrainConfig(Section):
    """A validated training config. Build with :meth:`from_yaml` or :meth:`from_dict`."""

    task: TaskName
    base_model: str = Field(min_length=1)
    # Off unless asked for: True lets transformers run Python code shipped with the model repository.
    trust_remote_code: bool = False
    dataset_version: Optional[str] = None
    data_paths: DataPaths = Field(default_factory=DataPaths)
    training: Training = Field(default_factory=Training)
    lora: Lora = Field(default_factory=Lora)
    compute: Compute = Field(default_factory=Compute)
    eval: Eval = Field(default_factory=Eval)
    output: Output = Field(default_factory=Output)
    wandb: Wandb = Field(default_factory=Wandb)
    mlflow: Mlflow = Field(default_factory=Mlflow)
    seed: int = 42
    name: Optional[str] = None
    backend: str = "hf"
    store: str = "local"
    trackers: List[str] = Field(default_factory=lambda: ["tensorboard"])
    # ``plugins.<entry point name>: {...}``: each plugin's own section, kept as written here and
    # checked against the schema the plugin declares when a run is wired (verifily_core.plugins.settings),
    # since loading a config must not import plugins.
    plugins: Dict[str, Dict[str, Any]] = Field(default_factory=dict)

    _source_dir: Optional[Path] = PrivateAttr(default=None)
    _source_file: Optional[Path] = PrivateAttr(default=None)

    # ------------------------------------------------------------------ construction
    @classmethod
    def from_dict(cls, data: Mapping[str, Any], *, source: Optional[Union[str, Path]] = None) -> TrainConfig:
        """Validate a plain mapping; ``source`` (a file) anchors relative paths and error messages."""
        where = f" in {source}" if source else ""
        if not isinstance(data, Mapping):
            raise ConfigError(f"The config{where} must be a mapping of keys, got {type(data).__name__}.")
        reject_unknown_keys(cls, data, prefix="", where=where)
        try:
            config = cls.model_validate(dict(data))
        except ValidationError as exc:
            raise config_error(exc, where) from None
        if source is not None:
            config._source_file = Path(source)
            config._source_dir = Path(source).resolve().parent
        return config

    @classmethod
    def from_yaml(cls, path: Union[str, Path]) -> TrainConfig:
        """Read a YAML config; relative data paths in it resolve against the file's folder."""
        p = Path(path)
        if not p.is_file():
            raise ConfigError(f"Config file not found: {p}", hint="Pass an existing file with --config.")
        try:
            text = p.read_text(encoding="utf-8")
        except UnicodeDecodeError as exc:
            raise ConfigError(f"{p}: not UTF-8 text (byte {exc.start})") from None
        try:
            data = safe_load(text)
        except YamlTooLargeError as exc:
            raise ConfigError(
                f"{p}: {exc.problem}", hint="Write the config without nested aliases."
            ) from None
        except yaml.YAMLError as exc:
            mark = getattr(exc, "problem_mark", None)
            at = f":{mark.line + 1}:{mark.column + 1}" if mark is not None else ""
            problem = getattr(exc, "problem", None) or str(exc)
            raise ConfigError(f"{p}{at}: YAML syntax error: {problem}", hint="Fix the YAML syntax.") from None
        if data is None:
            raise ConfigError(
                f"{p}: the config file is empty", hint="Write at least 'task' and 'base_model'."
            )
        return cls.from_dict(data, source=p)

    # ------------------------------------------------------------------ derived views
    @property
    def source_dir(self) -> Optional[Path]:
        """Folder of the file this config came from (None when built in memory)."""
        return self._source_dir

    @property
    def where(self) -> str:
        """`` in <file>`` for error messages, or an empty string when built in memory."""
        return f" in {self._source_file}" if self._source_file is not None else ""

    def plugin_settings(self, plugin: str, schema: type[S]) -> S:
        """The ``plugins.<plugin>`` section checked by ``schema``: its defaults when the config has none.

        What a plugin calls to read its settings (``request.config.plugin_settings("sklearn",
        SklearnSettings)``); a bad value is a ``ConfigError`` naming ``plugins.<plugin>.<key>``.
        """
        return validate_section(schema, self.plugins.get(plugin, {}), f"{PLUGINS_KEY}.{plugin}", self.where)

    def resolve_path(self, path: Union[str, Path]) -> Path:
        """Resolve a path written in the config: relative paths are anchored at the config's folder."""
        p = Path(path).expanduser()
        if p.is_absolute():
            return p
        base = self._source_dir if self._source_dir is not None else Path.cwd()
        return (base / p).resolve()

    def to_dict(self) -> Dict[str, Any]:
        """Plain JSON-compatible data, every key present (defaults included)."""
        return self.model_dump(mode="json")

    def to_yaml(self, path: Optional[Union[str, Path]] = None) -> str:
        """The config as YAML (section order as in the guide); written to ``path`` when given.

        Whole numbers in float fields are written as the user wrote them (``num_epochs: 3``, not
        ``3.0``); they load back to the same floats, so the config hash does not change.
        """
        text = yaml.dump(
            _whole_numbers_as_ints(self.to_dict()), Dumper=_ConfigDumper, sort_keys=False, allow_unicode=True
        )
        if path is not None:
            Path(path).write_text(text, encoding="utf-8")
        return text

    def canonical_json(self) -> str:
        """One serialisation per meaning: sorted keys, typed numbers; the config hash covers this.

        Sections added after runs were first recorded (``LATER_SECTIONS``) are left out while they
        hold their defaults, so a run recorded before they existed keeps its config hash.
        """
        data = self.to_dict()
        for key in LATER_SECTIONS:
            if getattr(self, key) == type(getattr(self, key))():
                del data[key]
        return json.dumps(data, sort_keys=True, separators=(",", ":"), ensure_ascii=True)

    def flat(self) -> Dict[str, Any]:
        """Every leaf as ``dotted.key -> value`` (lists are leaves): used by diffs and trackers."""
        return flatten(self.to_dict())

    # ------------------------------------------------------------------ overrides
    def apply_overrides(self, overrides: Mapping[str, Any]) -> TrainConfig:
        """A new config with dotted keys replaced, values coerced to the schema's types.

        ``{"training.learning_rate": "5e-5", "lora.r": 32}`` — strings are read as YAML scalars
        first so that CLI text such as ``"[q_proj, v_proj]"`` or ``"null"`` means what it says.
        """
        data = self.to_dict()
        for key, value in overrides.items():
            parts = key.split(".")
            plugin_key = parts[0] == PLUGINS_KEY
            node = _plugin_section(data, key) if plugin_key else data
            if not plugin_key:
                check_dotted_key(type(self), key)
                for part in parts[:-1]:
                    node = node[part]
            parsed = _parse_scalar(value)
            # text fields keep the text given (`--name 2024` is "2024", `--name '#'` is "#");
            # only a YAML null word means None (a plugin's keys, whose types the core does not
            # know, are read as YAML scalars)
            keep_text = (
                isinstance(value, str)
                and value.strip() not in _YAML_NULL_WORDS
                and not plugin_key
                and _is_text(type(self), parts)
            )
            node[parts[-1]] = value if keep_text else parsed
        try:
            config = type(self).model_validate(data)
        except ValidationError as exc:
            raise config_error(exc, " in the overrides") from None
        config._source_dir = self._source_dir
        config._source_file = self._source_file
        return config


# ---------------------------------------------------------------------- helpers


def _plugin_section(data: Dict[str, Any], key: str) -> Dict[str, Any]:
    """The mapping in ``data`` that holds the last part of the override ``plugins.<name>.<key>``,
    created when missing (the plugin's schema checks the key when the run is wired)."""
    parts = key.split(".")
    if len(parts) < 3 or not all(parts):
        raise ConfigError(
            f"'{key}' does not name a plugin setting.",
            key=key,
            hint="Set one key of a plugin's section, e.g. 'plugins.sklearn.max_iter=200'.",
        )
    node: Dict[str, Any] = data.setdefault(PLUGINS_KEY, {})
    for i, part in enumerate(parts[1:-1], start=2):
        child = node.setdefault(part, {})
        if not isinstance(child, dict):
            dotted = ".".join(parts[:i])
            raise ConfigError(f"'{dotted}' is a value, not a section: cannot set '{key}'.", key=key)
        node = child
    return node


_YAML_NULL_WORDS = frozenset({"null", "Null", "NULL", "~"})


class _ConfigDumper(yaml.SafeDumper):
    """Safe YAML that round-trips every string: PyYAML writes NEL and the Unicode line/paragraph
    separators raw inside quotes, where its own reader folds them to spaces (a frozen config would
    then load back different); such strings are written double-quoted, where they are escaped."""


def _represent_str(dumper: yaml.SafeDumper, text: str) -> yaml.ScalarNode:
    style = '"' if any(char in text for char in "\x85\u2028\u2029") else None
    return dumper.represent_scalar("tag:yaml.org,2002:str", text, style=style)


_ConfigDumper.add_representer(str, _represent_str)


def _whole_numbers_as_ints(value: Any) -> Any:
    """``3.0`` → ``3`` throughout nested dicts and lists (other values unchanged)."""
    if isinstance(value, float) and value.is_integer():
        return int(value)
    if isinstance(value, Mapping):
        return {k: _whole_numbers_as_ints(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_whole_numbers_as_ints(v) for v in value]
    return value


def flatten(data: Mapping[str, Any], prefix: str = "") -> Dict[str, Any]:
    """``{"a": {"b": 1}} -> {"a.b": 1}``; lists and scalars are leaves."""
    out: Dict[str, Any] = {}
    for key, value in data.items():
        dotted = f"{prefix}{key}"
        if isinstance(value, Mapping):
            out.update(flatten(value, dotted + "."))
        else:
            out[dotted] = value
    return out


def _parse_scalar(value: Any) -> Any:
    if isinstance(value, str):
        try:
            return safe_load(value) if value.strip() else value
        except yaml.YAMLError:
            return value
    return value


def _is_text(model: type[BaseModel], parts: List[str]) -> bool:
    """Whether a dotted key names a ``str`` or ``Optional[str]`` field."""
    for part in parts[:-1]:
        sub = section_model(model, part)
        if sub is None:
            return False
        model = sub
    annotation = model.model_fields[parts[-1]].annotation
    return annotation is str or set(get_args(annotation)) == {str, type(None)}
