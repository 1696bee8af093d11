"""The ModelBackend port: trains a model for a run and loads a trained run for prediction.

Contract for implementers
-------------------------
* The class carries ``PLUGIN_NAME`` (the value of the config key ``backend``) and can be built with
  no arguments; it must be cheap to construct: import heavy frameworks inside methods.
* ``supports(task)`` says which tasks it can train; the train service refuses the others early.
* ``environment()`` returns the versions and hardware facts that decide whether a run can be
  reproduced (framework versions, device and GPU names). Strings only; it feeds the environment
  hash, so it must not contain timestamps or anything else that changes between identical runs.
* ``validate_model(base_model, task)`` checks cheaply, *without importing a framework*, that the
  model reference can plausibly be loaded (used by ``train --dry-run``); raise ``BackendError``.
* ``preflight(request)`` (optional) checks what ``train`` would refuse before loading weights
  (device, model files, tokenization); ``train --dry-run`` calls it.
* ``checkpoint_is_complete(folder)`` (optional) says whether a checkpoint folder is whole; resume
  picks the newest whole one.
* ``locate_model(reference)`` (optional) says where a model reference's files are on this machine
  (a local folder or file; for a hub id, the snapshot folder of the local cache and its commit) so
  that the hash chain can record and re-check them; it never downloads. The default knows local
  paths only.
* ``train(request, callbacks)`` trains and writes its artifacts under ``request.output_dir``:
  ``adapter/`` (LoRA) or ``model/`` (full weights), ``tokenizer/`` when it has one, ``checkpoints/``
  and ``logs/``. It returns a :class:`TrainOutcome`. It never prints; it reports progress through
  ``callbacks``. Foreseen failures are raised as ``BackendError``/``DataError``/``ConfigError``
  (``raise BackendError(...) from exc``), never as vendor exceptions. When the process is one rank of
  a distributed launch, only rank 0 writes artifacts and calls callbacks.
* ``load(run_dir, training_info, device, batch_size)`` returns a :class:`Predictor` for a finished
  run folder; ``training_info`` is the parsed ``training_info.json``.
* ``export_merged(run_dir, training_info, out_dir)`` (optional) writes the run's model as one
  standalone folder (an adapter merged into its base) that the framework loads without this
  package; the default says the backend cannot.
* ``artifact_layout()`` (optional) names the run-folder entries ``train`` writes, by role: the
  weights (compared by ``reproduce``, handed to trackers), what ``load`` reads besides them, the
  checkpoints folder. The default is ``adapter/`` + ``model/``, ``tokenizer/``, ``checkpoints/``.
* ``weights_close(a, b, atol)`` (optional) says whether two weight files that differ in bytes hold
  the same values within ``atol``; ``reproduce --atol`` asks it. The default compares bytes only.
* ``plan_launch(config, args, launcher_config)`` (optional) says how to run one training as
  several processes (``verifily train --distributed``): the launcher's command line, checked
  against the devices of this machine; it starts nothing. ``launch_failure(returncode, tail)``
  names the cause of a failed launch from the launcher's last stderr lines. The default refuses
  distributed training with a ``ConfigError``.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar, Dict, Mapping, Optional, Sequence, Tuple

from verifily_core.config import TrainConfig
from verifily_core.domain.examples import ClassificationExample, SFTExample
from verifily_core.domain.model_digest import ModelSource, local_model_source
from verifily_core.domain.runs import ADAPTER_DIR, CHECKPOINTS_DIR, MODEL_DIR, TOKENIZER_DIR
from verifily_core.domain.training import (
    ClassPrediction,
    TokenLoss,
    TrainCallbacks,
    TrainOutcome,
    TrainRequest,
)


@dataclass(frozen=True)
class ArtifactLayout:
    """The run-folder entries (relative paths) a backend's ``train`` writes, by role."""

    #: the trained weights: compared file by file by ``reproduce``, handed to trackers' ``log_artifact``
    weights: Tuple[str, ...] = (ADAPTER_DIR, MODEL_DIR)
    #: what ``load`` reads besides the weights (checked against the seal before loading)
    companions: Tuple[str, ...] = (TOKENIZER_DIR,)
    #: the folder of ``checkpoint-N`` folders that ``train --resume`` picks from
    checkpoints: str = CHECKPOINTS_DIR

    @property
    def loaded(self) -> Tuple[str, ...]:
        """Every entry ``load`` reads."""
        return self.weights + self.companions


@dataclass(frozen=True)
class LaunchPlan:
    """How to run one training as several processes (see :meth:`ModelBackend.plan_launch`)."""

    #: the launcher's command line; every process it starts runs ``verifily`` with the same arguments
    command: Tuple[str, ...]
    num_processes: int
    on_cpu: bool
    #: a line to show before launching (e.g. that the processes run on the CPU), or None
    note: Optional[str] = None


class Predictor(ABC):
    """A loaded model that answers in the order it was asked; results align with the inputs."""

    @abstractmethod
    def generate(
        self, examples: Sequence[SFTExample], *, max_new_tokens: int, num_beams: int, batch_size: int
    ) -> list[str]:
        """Generated responses (prompt stripped) for SFT examples, one per example, in order."""

    @abstractmethod
    def classify(
        self, examples: Sequence[ClassificationExample], *, batch_size: int
    ) -> list[ClassPrediction]:
        """A label and the label probabilities for every example, in order."""

    @abstractmethod
    def reference_loss(self, examples: Sequence[SFTExample], *, batch_size: int) -> list[TokenLoss]:
        """Teacher-forced NLL of each example's reference output (for perplexity), in order."""

    def close(self) -> None:
        """Free the model's memory; the default does nothing."""


class ModelBackend(ABC):
    """Trains models and loads trained runs. See the module docstring for the full contract."""

    PLUGIN_NAME: ClassVar[str]

    @abstractmethod
    def supports(self, task: str) -> bool:
        """Whether this backend can train and evaluate ``task`` (``sft`` or ``classification``)."""

    @abstractmethod
    def environment(self) -> Dict[str, str]:
        """Versions and hardware facts for the environment hash; deterministic strings only."""

    @abstractmethod
    def validate_model(self, base_model: str, task: str) -> None:
        """Cheap check (no framework import) that ``base_model`` can be loaded; raise BackendError."""

    def preflight(self, request: TrainRequest) -> Dict[str, Any]:
        """What ``train`` would refuse before its first step, checked without loading weights.

        ``train --dry-run`` calls it so that a dry run fails where the real run would: the device
        exists, the model reference resolves (local files, or the hub cache/network), and every row
        survives tokenization and truncation. It may import the framework and load a tokenizer. It
        returns the figures the real run records (``truncated_rows``, ``truncated_tokens``, ...);
        problems are raised like ``train``'s. The default checks nothing more than
        ``validate_model``.
        """
        return {}

    def checkpoint_is_complete(self, checkpoint: Path) -> bool:
        """Whether a ``checkpoints/checkpoint-N`` folder can be resumed from (no framework import).

        A process killed while it writes a checkpoint leaves a partial folder; ``train --resume``
        skips every folder this rejects and resumes from the newest one it accepts. The default
        accepts any folder; a backend that knows its files checks them.
        """
        return checkpoint.is_dir()

    def locate_model(self, reference: str) -> Optional[ModelSource]:
        """Where the files of ``reference`` are here (None: not on this machine); never downloads.

        The train service hashes them into ``hashes.json`` and ``reproduce --verify-only`` hashes
        what this returns again, so it must name exactly what ``train``/``load`` would read.
        """
        return local_model_source(reference)

    @abstractmethod
    def train(self, request: TrainRequest, callbacks: TrainCallbacks) -> TrainOutcome:
        """Train and write artifacts under ``request.output_dir``; see the module contract."""

    @abstractmethod
    def load(
        self, run_dir: Path, training_info: Mapping[str, Any], *, device: Optional[str] = None
    ) -> Predictor:
        """A predictor over the trained artifacts of ``run_dir``."""

    def export_merged(self, run_dir: Path, training_info: Mapping[str, Any], out_dir: Path) -> None:
        """Write the run's model, adapter merged into its base, as a standalone folder ``out_dir``."""
        from verifily_core.errors import BackendError

        raise BackendError(f"The {self.PLUGIN_NAME} backend cannot export a merged model.")

    def artifact_layout(self) -> ArtifactLayout:
        """Which run-folder entries ``train`` writes, by role; the default suits most backends.

        Why the core asks instead of knowing: ``reproduce`` compares the weights, trackers upload
        them, ``load_run`` checks what ``load`` reads against the seal, and ``train --resume`` looks
        for checkpoints; a backend whose files live elsewhere says so here.
        """
        return ArtifactLayout()

    def weights_close(self, a: Path, b: Path, atol: float) -> Optional[str]:
        """None when weight files ``a`` and ``b`` (the same entry of two runs) hold the same values
        within ``atol`` (absolute, per value); else a short reason. Identical files are always close.

        ``reproduce --atol`` asks it for each weight file whose bytes differ (GPU kernels and other
        machines change the last bits). It reads the files only, never loads a model. The default
        cannot look inside a file: bytes that differ are a difference.
        """
        import filecmp

        if filecmp.cmp(a, b, shallow=False):
            return None
        return f"bytes differ (the {self.PLUGIN_NAME} backend compares weight files byte for byte)"

    def plan_launch(
        self, config: TrainConfig, args: Sequence[str], launcher_config: Optional[Path]
    ) -> LaunchPlan:
        """How ``verifily train --distributed`` runs ``config`` as ``compute.num_gpus`` processes.

        ``args`` are this ``verifily`` invocation's arguments (``train --config ...``): every process
        the launcher starts runs them again and, seeing the launcher's environment
        (``domain.distributed``), trains its rank instead of launching again. ``launcher_config``
        is a launcher config file (multi-node) that then decides the topology. It may import the
        framework to count this machine's devices; what cannot run here (more GPUs than visible, a
        device kind that cannot) is a ``ConfigError`` naming the key, before anything starts. It
        never starts a process. The default refuses: the backend trains in one process only.
        """
        from verifily_core.errors import ConfigError

        raise ConfigError(
            f"The {self.PLUGIN_NAME} backend trains in one process; it cannot run distributed training.",
            key="compute.distributed",
            hint="Drop --distributed (compute.distributed: false), or use a backend that launches "
            "several processes (backend: hf).",
        )

    def launch_failure(self, returncode: int, tail: Sequence[str]) -> str:
        """One line naming why a launch from :meth:`plan_launch` failed (it becomes the run's
        ``error``), from its exit code and the last lines of its stderr: the crashed process's own
        error rather than its peers' lost connections. The default quotes the last line."""
        last = tail[-1].strip() if tail else "no output"
        return f"a training process of the distributed launch failed (exit code {returncode}): {last}"
