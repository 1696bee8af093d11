"""Loading models and tokenizers: architecture detection, quantization, LoRA wrapping.

Training and prediction load the same way (same quantization, same label map, same tokenizer
fix-ups), so both go through this module; vendor exceptions leave it as ``BackendError``.
"""

from __future__ import annotations

import importlib.util
from pathlib import Path
from typing import Any, Dict, List, Optional, Sequence, Tuple, Union

from verifily_adapters.hf_backend.references import ModelRef, not_loadable, read_local_config
from verifily_core.config import Lora
from verifily_core.errors import BackendError, ConfigError, DependencyMissingError

CAUSAL_LM = "causal_lm"
SEQ2SEQ_LM = "seq2seq_lm"
SEQUENCE_CLASSIFICATION = "sequence_classification"
ARCHITECTURES = (CAUSAL_LM, SEQ2SEQ_LM, SEQUENCE_CLASSIFICATION)
_PEFT_TASK = {CAUSAL_LM: "CAUSAL_LM", SEQ2SEQ_LM: "SEQ_2_SEQ_LM", SEQUENCE_CLASSIFICATION: "SEQ_CLS"}
_DTYPES = {"bfloat16": "bfloat16", "float16": "float16", "float32": "float32"}


VENDORS = r"(transformers|peft|accelerate|torch|bitsandbytes)(\.|$)"


def quiet() -> None:
    """Keep the frameworks' own chatter off the user's terminal: ``train()`` and ``evaluate()``
    promise to print nothing, and the CLI draws its own progress.

    * transformers' progress bars are off, and its log level is ERROR unless the user chose one
      (``TRANSFORMERS_VERBOSITY``): its warnings (e.g. the tokenizer's PAD/BOS/EOS alignment notice)
      are about choices this backend makes on purpose.
    * bitsandbytes' import-time warning that an optional CPU kernel package is absent is dropped.
    * the frameworks' FutureWarning/DeprecationWarning (about their own internals, not about the
      user's code) are ignored unless the user configured warnings (``-W``/``PYTHONWARNINGS``).
    * ``transformers.integrations`` prints "[INFO] Running in WANDB offline mode" to stdout when it
      is first imported with ``WANDB_MODE=offline``; the Trainer imports it, so that first import
      happens here with stdout captured.
    """
    import contextlib
    import io
    import logging
    import os
    import sys
    import warnings

    logging.getLogger("bitsandbytes").setLevel(logging.ERROR)
    if not sys.warnoptions:
        for category in (FutureWarning, DeprecationWarning):
            warnings.filterwarnings("ignore", category=category, module=VENDORS)
    with contextlib.redirect_stdout(io.StringIO()):
        import transformers.integrations.integration_utils  # noqa: F401
    from transformers.utils import logging as hf_logging

    hf_logging.disable_progress_bar()
    if not os.environ.get("TRANSFORMERS_VERBOSITY"):
        hf_logging.set_verbosity_error()


def model_config(ref: ModelRef) -> Dict[str, Any]:
    """The model's config as a dict: plain JSON for folders, AutoConfig for hub ids."""
    if ref.is_local:
        return read_local_config(Path(ref.name))
    from transformers import AutoConfig

    try:
        config: Dict[str, Any] = AutoConfig.from_pretrained(
            ref.name, local_files_only=ref.local_files_only, trust_remote_code=ref.trust_remote_code
        ).to_dict()
        return config
    except Exception as exc:  # noqa: BLE001 - every vendor failure becomes one clear message
        raise not_loadable(ref, exc) from exc


def detect_architecture(task: str, config: Dict[str, Any]) -> str:
    """classification → sequence classification; sft → seq2seq if encoder-decoder, else causal."""
    if task == "classification":
        return SEQUENCE_CLASSIFICATION
    return SEQ2SEQ_LM if config.get("is_encoder_decoder") else CAUSAL_LM


def load_tokenizer(source: Union[str, Path], ref: Optional[ModelRef] = None) -> Any:
    """The tokenizer, with a pad token (EOS stands in for models that ship none, as GPT-2/Llama)."""
    from transformers import AutoTokenizer

    try:
        tokenizer = AutoTokenizer.from_pretrained(
            str(source),
            local_files_only=ref.local_files_only if ref else True,
            trust_remote_code=ref.trust_remote_code if ref else False,
        )
    except Exception as exc:  # noqa: BLE001
        if ref is not None:
            raise not_loadable(ref, exc) from exc
        raise BackendError(f"Could not load the tokenizer in {source}: {type(exc).__name__}: {exc}") from exc
    if tokenizer.pad_token_id is None:
        if tokenizer.eos_token_id is None:
            raise BackendError(
                f"The tokenizer of {source} has neither a pad nor an EOS token.",
                hint="Save a tokenizer with special tokens (pad_token or eos_token).",
            )
        tokenizer.pad_token = tokenizer.eos_token
    return tokenizer


def quantization_config(quantization: str, compute_dtype: str) -> Any:
    """A BitsAndBytesConfig for ``4bit``/``8bit`` (None for ``none``); bitsandbytes is optional."""
    if quantization == "none":
        return None
    if importlib.util.find_spec("bitsandbytes") is None:
        raise DependencyMissingError(
            f"lora.quantization: {quantization} needs the bitsandbytes package, which is not installed.",
            hint='pip install -e ".[qlora]"',
        )
    import torch
    from transformers import BitsAndBytesConfig

    if quantization == "8bit":
        return BitsAndBytesConfig(load_in_8bit=True)
    return BitsAndBytesConfig(
        load_in_4bit=True,
        bnb_4bit_quant_type="nf4",
        bnb_4bit_use_double_quant=True,
        bnb_4bit_compute_dtype=getattr(torch, _DTYPES[compute_dtype]),
    )


def load_model(
    ref: ModelRef,
    architecture: str,
    *,
    labels: Sequence[str] = (),
    quantization: str = "none",
    compute_dtype: str = "bfloat16",
    device: Any = None,
    attn_implementation: Optional[str] = None,
) -> Any:
    """The base model for ``architecture``; quantized models are placed on ``device`` at load.
    ``attn_implementation`` None keeps transformers' default (SDPA where the model supports it)."""
    import transformers

    quant = quantization_config(quantization, compute_dtype)
    kwargs: Dict[str, Any] = {
        "local_files_only": ref.local_files_only,
        "trust_remote_code": ref.trust_remote_code,
    }
    if attn_implementation is not None:
        kwargs["attn_implementation"] = attn_implementation
    if quant is not None:
        kwargs["quantization_config"] = quant
        kwargs["device_map"] = {"": str(device) if device is not None else "cpu"}
    if architecture == SEQUENCE_CLASSIFICATION:
        if not labels:
            raise BackendError("A classification model needs its label list (training_info.json 'labels').")
        kwargs.update(
            num_labels=len(labels),
            id2label=dict(enumerate(labels)),
            label2id={label: i for i, label in enumerate(labels)},
        )
    auto = {
        CAUSAL_LM: transformers.AutoModelForCausalLM,
        SEQ2SEQ_LM: transformers.AutoModelForSeq2SeqLM,
        SEQUENCE_CLASSIFICATION: transformers.AutoModelForSequenceClassification,
    }[architecture]
    try:
        model = auto.from_pretrained(ref.name, **kwargs)
    except Exception as exc:  # noqa: BLE001
        raise translate(exc, not_loadable(ref, exc)) from exc
    if architecture == SEQUENCE_CLASSIFICATION and model.config.pad_token_id is None:
        model.config.pad_token_id = model.config.eos_token_id
    return model


def lora_targets(lora: Lora, model_type: str) -> Union[str, List[str], None]:
    """``auto``: PEFT's defaults when it knows the architecture (None lets PEFT pick them), else every
    linear layer; ``all-linear`` and explicit lists pass through."""
    if lora.target_modules != "auto":
        return lora.target_modules
    from peft.utils.constants import TRANSFORMERS_MODELS_TO_LORA_TARGET_MODULES_MAPPING as defaults

    return None if model_type in defaults else "all-linear"


def apply_lora(
    model: Any, lora: Lora, architecture: str, *, quantized: bool, gradient_checkpointing: bool
) -> Any:
    """Wrap ``model`` in a LoRA PeftModel (after k-bit preparation when quantized)."""
    from peft import LoraConfig, get_peft_model, prepare_model_for_kbit_training

    if quantized:
        model = prepare_model_for_kbit_training(model, use_gradient_checkpointing=gradient_checkpointing)
    config = LoraConfig(
        r=lora.r,
        # peft annotates an int but scales by any number; the float keeps adapter_config.json as before
        lora_alpha=lora.alpha,  # type: ignore[arg-type]
        lora_dropout=lora.dropout,
        target_modules=lora_targets(lora, model.config.model_type),
        modules_to_save=lora.modules_to_save,
        task_type=_PEFT_TASK[architecture],
    )
    try:
        return get_peft_model(model, config)
    except ValueError as exc:
        raise ConfigError(
            f"LoRA could not be applied to {model.config.model_type}: {exc}",
            key="lora.target_modules",
            hint="List module names that exist in the model, or use 'all-linear'.",
        ) from exc


def check_quantization(lora: Lora) -> None:
    """Quantized weights cannot be trained directly: QLoRA needs LoRA on."""
    if lora.quantization != "none" and not lora.enabled:
        raise ConfigError(
            f"lora.quantization: {lora.quantization} needs lora.enabled: true "
            "(quantized weights are frozen; only LoRA adapters can train on them).",
            key="lora.quantization",
            hint="Set lora.quantization: none for full fine-tuning.",
        )


def parameter_counts(model: Any) -> Tuple[int, int]:
    """(trainable, total) parameters; 4-bit weights count as stored elements × 2."""
    trainable = total = 0
    for param in model.parameters():
        n = param.numel() * (2 if param.__class__.__name__ == "Params4bit" else 1)
        total += n
        if param.requires_grad:
            trainable += n
    return trainable, total


def translate(exc: BaseException, default: BackendError) -> BackendError:
    """Out-of-memory gets its own actionable message; everything else the given default."""
    import torch

    if isinstance(exc, torch.OutOfMemoryError) or "out of memory" in str(exc).lower():
        return BackendError(
            f"Out of memory: {exc}",
            hint="Lower training.batch_size (raise gradient_accumulation_steps to compensate), lower "
            "training.max_seq_length, or enable QLoRA with lora.quantization: 4bit.",
        )
    return default
