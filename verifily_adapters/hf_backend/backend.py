"""The ``hf`` ModelBackend: Hugging Face Transformers + PEFT (LoRA/QLoRA) behind the core's port.

This module stays cheap to import (no torch, transformers or peft at import time) so that
``verifily --help``, ``train --dry-run`` and ``reproduce --verify-only`` never pay for them; the
heavy modules are imported by the methods that need them.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, ClassVar, Dict, Mapping, Optional, Sequence

from verifily_adapters.hf_backend.environment import environment
from verifily_adapters.hf_backend.references import validate_reference
from verifily_core.config import TrainConfig
from verifily_core.domain.model_digest import ModelSource, local_model_source
from verifily_core.domain.training import TrainCallbacks, TrainOutcome, TrainRequest
from verifily_core.errors import BackendError
from verifily_core.ports.model_backend import ArtifactLayout, LaunchPlan, ModelBackend, Predictor

TASKS = ("sft", "classification")


class HFModelBackend(ModelBackend):
    """Causal LMs and seq2seq models for ``sft``, sequence classifiers for ``classification``."""

    PLUGIN_NAME: ClassVar[str] = "hf"

    def supports(self, task: str) -> bool:
        return task in TASKS

    def environment(self) -> Dict[str, str]:
        return environment()

    def validate_model(self, base_model: str, task: str) -> None:
        if task not in TASKS:
            raise BackendError(f"The hf backend cannot train task {task!r}; it supports {', '.join(TASKS)}.")
        validate_reference(base_model)

    def checkpoint_is_complete(self, checkpoint: Path) -> bool:
        from verifily_adapters.hf_backend.checkpoints import checkpoint_is_complete

        return checkpoint_is_complete(checkpoint)

    def preflight(self, request: TrainRequest) -> Dict[str, Any]:
        from verifily_adapters.hf_backend.trainer import preflight

        return preflight(request)

    def locate_model(self, reference: str) -> Optional[ModelSource]:
        """A local path is itself (a folder holding one GGUF file: that file, which is all that is
        loaded from it); a hub id is its snapshot in the local HF cache (folder name = the commit),
        looked up with ``local_files_only`` so that nothing is downloaded."""
        local = local_model_source(reference)
        if local is not None:
            from verifily_adapters.hf_backend.gguf import gguf_file

            found = gguf_file(Path(local.path)) if Path(local.path).is_dir() else None
            return ModelSource(found.resolve()) if found is not None else local
        try:
            from huggingface_hub import snapshot_download

            folder = Path(snapshot_download(reference, local_files_only=True))
        except Exception:  # noqa: BLE001 - not cached (or not a hub id): nothing to hash here
            return None
        return ModelSource(folder.resolve(), revision=folder.name)

    def train(self, request: TrainRequest, callbacks: TrainCallbacks) -> TrainOutcome:
        from verifily_adapters.hf_backend.trainer import run_training

        return run_training(request, callbacks)

    def load(
        self, run_dir: Path, training_info: Mapping[str, Any], *, device: Optional[str] = None
    ) -> Predictor:
        from verifily_adapters.hf_backend.predictor import load_predictor

        return load_predictor(Path(run_dir), training_info, device)

    def export_merged(self, run_dir: Path, training_info: Mapping[str, Any], out_dir: Path) -> None:
        from verifily_adapters.hf_backend.predictor import export_merged

        export_merged(Path(run_dir), training_info, Path(out_dir))

    def artifact_layout(self) -> ArtifactLayout:
        """``adapter/`` (LoRA) or ``model/`` (full weights, or the merged model beside an adapter),
        ``tokenizer/``, and the Trainer's ``checkpoints/``."""
        from verifily_adapters.hf_backend.artifacts import LAYOUT

        return LAYOUT

    def weights_close(self, a: Path, b: Path, atol: float) -> Optional[str]:
        from verifily_adapters.hf_backend.weights import weights_close

        return weights_close(a, b, atol)

    def plan_launch(
        self, config: TrainConfig, args: Sequence[str], launcher_config: Optional[Path]
    ) -> LaunchPlan:
        """``accelerate launch`` over the visible CUDA GPUs, or N CPU processes over gloo."""
        from verifily_adapters.hf_backend.processes import plan_launch

        return plan_launch(config, args, launcher_config)

    def launch_failure(self, returncode: int, tail: Sequence[str]) -> str:
        from verifily_adapters.hf_backend.processes import crash_summary

        return crash_summary(returncode, tail)
