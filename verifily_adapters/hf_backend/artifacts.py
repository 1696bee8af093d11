"""What the hf backend leaves in a run folder, and the code that writes it.

* ``adapter/``: the LoRA adapter (PEFT's files); ``model/``: the full model, either trained in full
  or the adapter merged into a fresh full-precision base; both are weights (``reproduce`` compares
  them, trackers upload them).
* ``tokenizer/``: read back by ``load`` with the weights; ``checkpoints/``: the Trainer's.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, List

from verifily_adapters.hf_backend import loading
from verifily_adapters.hf_backend.references import ModelRef
from verifily_core.config import TrainConfig
from verifily_core.domain.runs import ADAPTER_DIR, CHECKPOINTS_DIR, MODEL_DIR, TOKENIZER_DIR
from verifily_core.ports.model_backend import ArtifactLayout

LAYOUT = ArtifactLayout(
    weights=(ADAPTER_DIR, MODEL_DIR), companions=(TOKENIZER_DIR,), checkpoints=CHECKPOINTS_DIR
)
__all__ = ["ADAPTER_DIR", "CHECKPOINTS_DIR", "LAYOUT", "MODEL_DIR", "TOKENIZER_DIR", "save_artifacts"]


def save_artifacts(
    trainer: Any,
    model: Any,
    tokenizer: Any,
    config: TrainConfig,
    output_dir: Path,
    ref: ModelRef,
    architecture: str,
    labels: List[str],
) -> None:
    """``model/`` (full fine-tuning, every rank takes part), then on the main process only:
    ``adapter/`` and the merged ``model/`` (LoRA, unless ``output.save_adapter_only``), ``tokenizer/``."""
    out = Path(output_dir)
    if not config.lora.enabled:
        trainer.save_model(str(out / MODEL_DIR))
    if not trainer.is_world_process_zero():
        return
    if config.lora.enabled:
        _sort_set_fields(model)
        model.save_pretrained(str(out / ADAPTER_DIR))
        if not config.output.save_adapter_only:
            _save_merged(out, ref, architecture, labels)
    tokenizer.save_pretrained(str(out / TOKENIZER_DIR))


def _sort_set_fields(model: Any) -> None:
    """PEFT keeps ``target_modules`` (and any other set-valued field) as a Python set and writes it
    in set order, which string hash randomisation changes from one process to the next: two
    identical trainings then wrote different ``adapter_config.json`` bytes and ``reproduce``
    reported a FAIL. Such fields become sorted lists before saving (PEFT accepts a list wherever it
    takes a set), so the file depends on the config alone."""
    peft_config = getattr(model, "peft_config", {}).get("default")
    fields = getattr(peft_config, "__dict__", {})
    for name, value in list(fields.items()):
        if isinstance(value, set):
            fields[name] = sorted(value, key=str)


def _save_merged(out: Path, ref: ModelRef, architecture: str, labels: List[str]) -> None:
    """Merge the saved adapter into a fresh full-precision base (also right after QLoRA)."""
    from peft import PeftModel

    base = loading.load_model(ref, architecture, labels=labels)
    merged = PeftModel.from_pretrained(base, str(out / ADAPTER_DIR)).merge_and_unload()
    merged.save_pretrained(str(out / MODEL_DIR))
