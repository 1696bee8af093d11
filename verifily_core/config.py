"""The training config: every key of the user guide's section 4, typed, with its default.

Why a schema of our own rather than passing YAML through: users write configs by hand, and the
most common failure of fine-tuning tools is a misspelt key that is silently ignored. Here every
unknown key is an error with a did-you-mean, every bad value names its dotted key, and the frozen
copy saved in a run folder has one canonical form so that its hash does not depend on key order or
on how a number was spelt (``2e-4`` and ``0.0002`` hash the same).

Extensions to the guide's schema (documented in docs/config.md): ``backend``, ``store`` and
``trackers`` pick plugins by name; ``lora.modules_to_save`` keeps whole modules trainable.
"""

from __future__ import annotations

import difflib
import json
import math
import re
from pathlib import Path
from typing import Any, Dict, List, Literal, Mapping, Optional, Union, get_args

import yaml
from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    PrivateAttr,
    ValidationError,
    ValidationInfo,
    field_validator,
)

from verifily_core.errors import ConfigError

TaskName = Literal["sft", "classification"]
LR_SCHEDULERS = (
    "linear",
    "cosine",
    "cosine_with_restarts",
    "polynomial",
    "constant",
    "constant_with_warmup",
    "inverse_sqrt",
    "reduce_lr_on_plateau",
    "cosine_with_min_lr",
    "warmup_stable_decay",
)
_DEVICE_PATTERN = re.compile(r"^(auto|cpu|mps|cuda(:\d+)?)$")


class _Section(BaseModel):
    model_config = ConfigDict(extra="forbid", validate_assignment=True)

    @field_validator("*", mode="before")
    @classmethod
    def _no_booleans_as_numbers(cls, value: Any, info: ValidationInfo) -> Any:
        # pydantic's lax mode reads `r: true` as 1: a typo that must not train silently
        name = info.field_name
        if isinstance(value, bool) and name and _is_numeric(cls.model_fields[name].annotation):
            raise ValueError(f"expected a number, got {str(value).lower()}")
        return value


class DataPaths(_Section):
    train: Union[str, List[str]] = ""
    val: Optional[str] = None
    test: Optional[str] = None
    weights: Optional[List[float]] = None

    @property
    def train_files(self) -> List[str]:
        """The training files as a list, whether the config wrote one path or several."""
        if isinstance(self.train, str):
            return [self.train] if self.train else []
        return list(self.train)

    @field_validator("weights")
    @classmethod
    def _weights_match_files(
        cls, weights: Optional[List[float]], info: ValidationInfo
    ) -> Optional[List[float]]:
        # a field validator (not a model one) so that the error names 'data_paths.weights'
        train = info.data.get("train")
        if weights is None or train is None:
            return weights
        n = len(train) if isinstance(train, list) else int(bool(train))
        if len(weights) != n:
            raise ValueError(
                f"{len(weights)} weight(s) but data_paths.train lists {n} file(s); "
                "give one weight per training file"
            )
        bad = [w for w in weights if not (w > 0 and math.isfinite(w))]
        if bad:
            raise ValueError(f"every weight must be a positive number, got {bad}")
        return weights


class Training(_Section):
    num_epochs: float = Field(3, gt=0)
    batch_size: int = Field(8, ge=1)
    gradient_accumulation_steps: int = Field(4, ge=1)
    learning_rate: float = Field(2e-4, gt=0)
    lr_scheduler: str = "cosine"
    warmup_ratio: float = Field(0.03, ge=0, le=1)
    weight_decay: float = Field(0.01, ge=0)
    max_grad_norm: float = Field(1.0, ge=0)
    max_seq_length: int = Field(2048, ge=8)
    eval_steps: int = Field(500, ge=1)
    save_steps: int = Field(500, ge=1)
    logging_steps: int = Field(10, ge=1)
    save_total_limit: Optional[int] = Field(2, ge=1)

    @field_validator("lr_scheduler")
    @classmethod
    def _known_scheduler(cls, value: str) -> str:
        if value not in LR_SCHEDULERS:
            raise ValueError(f"got {value!r}; allowed: {', '.join(LR_SCHEDULERS)}")
        return value


class Lora(_Section):
    enabled: bool = True
    r: int = Field(16, ge=1)
    alpha: float = Field(32, gt=0)
    dropout: float = Field(0.05, ge=0, lt=1)
    target_modules: Union[Literal["auto", "all-linear"], List[str]] = "auto"
    modules_to_save: Optional[List[str]] = None
    quantization: Literal["none", "4bit", "8bit"] = "none"
    bnb_4bit_compute_dtype: Literal["bfloat16", "float16", "float32"] = "bfloat16"

    @field_validator("quantization", mode="before")
    @classmethod
    def _null_means_none(cls, value: Any) -> Any:
        return "none" if value is None or value is False else value


class Compute(_Section):
    mode: Literal["local", "managed"] = "local"
    device: str = "auto"
    fp16: bool = False
    bf16: bool = True
    distributed: bool = False
    num_gpus: Optional[int] = Field(None, ge=1)

    @field_validator("device")
    @classmethod
    def _known_device(cls, value: str) -> str:
        if not _DEVICE_PATTERN.match(value):
            raise ValueError(f"got {value!r}; allowed: auto, cpu, mps, cuda, cuda:N")
        return value


class Eval(_Section):
    enabled: bool = True
    metrics: Optional[List[str]] = None
    gold_set: Optional[str] = None
    slice_by_tags: Optional[List[str]] = None
    hard_examples: int = Field(50, ge=0)
    batch_size: int = Field(16, ge=1)
    generation_max_new_tokens: int = Field(128, ge=1)
    generation_num_beams: int = Field(4, ge=1)


class Output(_Section):
    dir: str = "runs/"
    save_adapter_only: bool = True
    push_to_hub: bool = False


class Wandb(_Section):
    enabled: bool = False
    project: str = "verifily-train"
    entity: Optional[str] = None
    tags: Optional[List[str]] = None
    log_model: bool = False


class TrainConfig(_Section):
    """A validated training config. Build with :meth:`from_yaml` or :meth:`from_dict`."""

    task: TaskName
    base_model: str = Field(min_length=1)
    dataset_version: Optional[str] = None
    data_paths: DataPaths = Field(default_factory=DataPaths)
    training: Training = Field(default_factory=Training)
    lora: Lora = Field(default_factory=Lora)
    compute: Compute = Field(default_factory=Compute)
    eval: Eval = Field(default_factory=Eval)
    output: Output = Field(default_factory=Output)
    wandb: Wandb = Field(default_factory=Wandb)
    seed: int = 42
    name: Optional[str] = None
    backend: str = "hf"
    store: str = "local"
    trackers: List[str] = Field(default_factory=lambda: ["tensorboard"])

    _source_dir: Optional[Path] = PrivateAttr(default=None)

    # ------------------------------------------------------------------ construction
    @classmethod
    def from_dict(cls, data: Mapping[str, Any], *, source: Optional[Union[str, Path]] = None) -> TrainConfig:
        """Validate a plain mapping; ``source`` (a file) anchors relative paths and error messages."""
        where = f" in {source}" if source else ""
        if not isinstance(data, Mapping):
            raise ConfigError(f"The config{where} must be a mapping of keys, got {type(data).__name__}.")
        _reject_unknown_keys(cls, data, prefix="", where=where)
        try:
            config = cls.model_validate(dict(data))
        except ValidationError as exc:
            raise _config_error(exc, where) from None
        if source is not None:
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
            data = yaml.safe_load(text)
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
        """The config as YAML (section order as in the guide); written to ``path`` when given."""
        text = yaml.safe_dump(self.to_dict(), sort_keys=False, allow_unicode=True)
        if path is not None:
            Path(path).write_text(text, encoding="utf-8")
        return text

    def canonical_json(self) -> str:
        """One serialisation per meaning: sorted keys, typed numbers; the config hash covers this."""
        return json.dumps(self.to_dict(), sort_keys=True, separators=(",", ":"), ensure_ascii=True)

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
            _check_dotted_key(type(self), key)
            node = data
            parts = key.split(".")
            for part in parts[:-1]:
                node = node[part]
            parsed = _parse_scalar(value)
            # text fields keep the text given (`--name 2024` is "2024"); only null means None
            keep_text = isinstance(value, str) and parsed is not None and _is_text(type(self), parts)
            node[parts[-1]] = value if keep_text else parsed
        try:
            config = type(self).model_validate(data)
        except ValidationError as exc:
            raise _config_error(exc, " in the overrides") from None
        config._source_dir = self._source_dir
        return config


# ---------------------------------------------------------------------- helpers


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
            return yaml.safe_load(value) if value.strip() else value
        except yaml.YAMLError:
            return value
    return value


def _is_numeric(annotation: Any) -> bool:
    """int, float or Optional of them (not bool, which pydantic would otherwise take for 0/1)."""
    return annotation in (int, float) or any(a in (int, float) for a in get_args(annotation))


def _is_text(model: type[BaseModel], parts: List[str]) -> bool:
    """Whether a dotted key names a ``str`` or ``Optional[str]`` field."""
    for part in parts[:-1]:
        sub = _section_model(model, part)
        if sub is None:
            return False
        model = sub
    annotation = model.model_fields[parts[-1]].annotation
    return annotation is str or set(get_args(annotation)) == {str, type(None)}


def _section_model(model: type[BaseModel], name: str) -> Optional[type[BaseModel]]:
    annotation = model.model_fields[name].annotation
    return annotation if isinstance(annotation, type) and issubclass(annotation, BaseModel) else None


def _suggest(name: str, choices: List[str]) -> str:
    close = difflib.get_close_matches(name, choices, n=1, cutoff=0.6)
    return f" Did you mean '{close[0]}'?" if close else ""


def _reject_unknown_keys(model: type[BaseModel], data: Mapping[str, Any], prefix: str, where: str) -> None:
    fields = list(model.model_fields)
    for key, value in data.items():
        dotted = f"{prefix}{key}"
        if key not in fields:
            raise ConfigError(
                f"Unknown config key '{dotted}'{where}.{_suggest(str(key), fields)}",
                key=dotted,
                hint=f"Keys allowed here: {', '.join(fields)}.",
            )
        sub = _section_model(model, key)
        if sub is not None and isinstance(value, Mapping):
            _reject_unknown_keys(sub, value, dotted + ".", where)


def _check_dotted_key(model: type[BaseModel], key: str) -> None:
    current: type[BaseModel] = model
    parts = key.split(".")
    for i, part in enumerate(parts):
        fields = list(current.model_fields)
        dotted = ".".join(parts[: i + 1])
        if part not in fields:
            raise ConfigError(
                f"Unknown config key '{dotted}'.{_suggest(part, fields)}",
                key=dotted,
                hint=f"Keys allowed here: {', '.join(fields)}.",
            )
        sub = _section_model(current, part)
        if i < len(parts) - 1:
            if sub is None:
                raise ConfigError(f"'{dotted}' is a value, not a section: cannot set '{key}'.", key=key)
            current = sub
        elif sub is not None:
            example = f"{key}.{next(iter(sub.model_fields))}"
            raise ConfigError(f"'{key}' is a section; set one of its keys, e.g. '{example}'.", key=key)


def _config_error(exc: ValidationError, where: str) -> ConfigError:
    first = exc.errors()[0]
    key = _clean_loc(first["loc"])
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
