"""The config's sections: one pydantic model per top-level key of the user guide's section 4.

Why every section forbids extra keys and refuses booleans as numbers: a misspelt key or a ``true``
where a number belongs must fail loudly rather than train with a default nobody asked for.
"""

from __future__ import annotations

import math
import re
from typing import Any, Dict, List, Literal, Optional, Union, get_args

from pydantic import BaseModel, ConfigDict, Field, ValidationInfo, field_validator

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
DEVICE_PATTERN = re.compile(r"^(auto|cpu|mps|cuda(:\d+)?)$")


class Section(BaseModel):
    """The base of every section: unknown keys and booleans given for numbers are errors."""

    # validate_default: a default must have the type a value read back from the frozen config.yaml
    # gets (``alpha`` 32 -> 32.0), or a re-run writes other bytes (adapter_config.json) than the run.
    model_config = ConfigDict(extra="forbid", validate_assignment=True, validate_default=True)

    @field_validator("*", mode="before")
    @classmethod
    def _no_booleans_as_numbers(cls, value: Any, info: ValidationInfo) -> Any:
        # pydantic's lax mode reads `r: true` as 1: a typo that must not train silently
        name = info.field_name
        if isinstance(value, bool) and name and _is_numeric(cls.model_fields[name].annotation):
            raise ValueError(f"expected a number, got {str(value).lower()}")
        return value


class DataPaths(Section):
    train: Union[str, List[str]] = ""
    val: Union[str, List[str], None] = None
    test: Union[str, List[str], None] = None
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


class Training(Section):
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
    # instruction rows: Alpaca headers, or the model's own chat template (conversations always use it)
    prompt_format: Literal["alpaca", "chat_template"] = "alpaca"
    # early stopping on the validation loss (needs data_paths.val); None = train every step
    early_stopping_patience: Optional[int] = Field(None, ge=1)
    early_stopping_min_delta: float = Field(0.0, ge=0)
    load_best_model_at_end: bool = False
    # throughput (docs/training.md "Batches, packing and token budgets"): "auto" packs causal SFT
    packing: Union[Literal["auto"], bool] = "auto"
    max_tokens_per_batch: Optional[int] = Field(None, ge=8)
    gradient_checkpointing: bool = False
    liger: bool = False

    @field_validator("lr_scheduler")
    @classmethod
    def _known_scheduler(cls, value: str) -> str:
        if value not in LR_SCHEDULERS:
            raise ValueError(f"got {value!r}; allowed: {', '.join(LR_SCHEDULERS)}")
        return value


class Lora(Section):
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


class Compute(Section):
    mode: Literal["local", "managed"] = "local"
    device: str = "auto"
    fp16: bool = False
    bf16: bool = True
    distributed: bool = False
    num_gpus: Optional[int] = Field(None, ge=1)

    @field_validator("device")
    @classmethod
    def _known_device(cls, value: str) -> str:
        if not DEVICE_PATTERN.match(value):
            raise ValueError(f"got {value!r}; allowed: auto, cpu, mps, cuda, cuda:N")
        return value


class Eval(Section):
    enabled: bool = True
    metrics: Optional[List[str]] = None
    gold_set: Optional[str] = None
    slice_by_tags: Optional[List[str]] = None
    hard_examples: int = Field(50, ge=0)
    batch_size: int = Field(16, ge=1)
    generation_max_new_tokens: int = Field(128, ge=1)
    generation_num_beams: int = Field(4, ge=1)


class Output(Section):
    dir: str = "runs/"
    save_adapter_only: bool = True
    push_to_hub: bool = False


class Wandb(Section):
    enabled: bool = False
    project: str = "verifily-train"
    entity: Optional[str] = None
    tags: Optional[List[str]] = None
    log_model: bool = False


class Mlflow(Section):
    """The ``mlflow:`` section: where the ``mlflow`` tracker logs (see docs/tracking.md).

    ``tracking_uri`` None means ``MLFLOW_TRACKING_URI``, else a local ``mlruns/`` beside the runs
    folder; ``run_name`` None means the Verifily run id; ``registered_model`` None means the
    experiment's name.
    """

    tracking_uri: Optional[str] = None
    experiment: str = Field("verifily-train", min_length=1)
    run_name: Optional[str] = None
    tags: Optional[Dict[str, str]] = None
    log_model: bool = False
    registered_model: Optional[str] = None


class PluginSettings(Section):
    """The base of a plugin's own section, ``plugins.<name>`` (see docs/plugins.md, "Settings").

    A plugin subclasses it and returns the subclass from its ``verifily_plugin_config_schema``
    hook; it inherits the rules of every built-in section (unknown keys refused, no ``true`` for a
    number, defaults validated), so a plugin's settings fail as clearly as the core's.
    """


def _is_numeric(annotation: Any) -> bool:
    """int, float or Optional of them (not bool, which pydantic would otherwise take for 0/1)."""
    return annotation in (int, float) or any(a in (int, float) for a in get_args(annotation))
