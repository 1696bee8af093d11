"""Fakes of the four ports, shipped with the core so that our tests and plugin authors' tests use
the same ones (as httpx ships ``MockTransport``).

* :class:`ScriptedModelBackend` (``backend: scripted``): "trains" along a scripted loss curve in
  no time, writes a small adapter so that artifact hashing has bytes to hash, and loads a
  :class:`ScriptedPredictor` whose answers are enqueued or, by default, echo the reference output
  (SFT) or give the first label (classification). Every call is kept in ``history``.
* :class:`InMemoryArtifactStore` (``store: memory``): run files in a dict, with the same run id
  and path rules as the local store; behaves like a remote store (``local_dir`` is a temp folder
  whose files reach the store on ``sync``).
* :class:`RecordingTracker` and :class:`RecordingBillingSink` (both ``recording``): keep what they
  were given; both can be told to fail, to prove that a run survives a broken tracker or sink.

Core use cases take ports as arguments, so most tests pass these instances directly. To select
them by name instead, register this module: ``registry.register(verifily_core.testing)``.
"""

from __future__ import annotations

import hashlib
import json
import tempfile
import threading
from collections import deque
from pathlib import Path, PurePosixPath
from typing import Any, Deque, Dict, Iterable, Iterator, List, Mapping, Optional, Sequence, Tuple, Union

from verifily_core.domain.examples import ClassificationExample, SFTExample
from verifily_core.domain.runs import ADAPTER_DIR, RUN_META, is_plain_run_id, run_id_candidates
from verifily_core.domain.training import (
    ClassPrediction,
    TokenLoss,
    TrainCallbacks,
    TrainOutcome,
    TrainRequest,
)
from verifily_core.errors import BackendError, BillingError, RunNotFoundError, StoreError, TrackerError
from verifily_core.plugins.hookspecs import hookimpl
from verifily_core.ports import ArtifactStore, BillingSink, ModelBackend, Predictor, RunLocation, Tracker

Answer = Union[str, ClassPrediction]
Call = Tuple[str, Any]
TASKS = ("sft", "classification")


class ScriptedPredictor(Predictor):
    """Answers from a shared queue first, then the defaults; records each call in ``history``."""

    def __init__(
        self,
        answers: Deque[Answer],
        history: List[Call],
        labels: Sequence[str] = (),
        loss_per_token: float = 1.0,
    ) -> None:
        self.answers = answers
        self.history = history
        self.labels = list(labels)
        self.loss_per_token = loss_per_token
        self.closed = False

    def enqueue(self, *answers: Answer) -> None:
        self.answers.extend(answers)

    def _next(self) -> Optional[Answer]:
        return self.answers.popleft() if self.answers else None

    def generate(
        self, examples: Sequence[SFTExample], *, max_new_tokens: int, num_beams: int, batch_size: int
    ) -> list[str]:
        self.history.append(("generate", list(examples)))
        out = []
        for example in examples:
            answer = self._next()
            out.append(example.output if answer is None else str(answer))
        return out

    def classify(
        self, examples: Sequence[ClassificationExample], *, batch_size: int
    ) -> list[ClassPrediction]:
        self.history.append(("classify", list(examples)))
        labels = self.labels or sorted({e.label for e in examples})
        out = []
        for _ in examples:
            answer = self._next()
            if isinstance(answer, ClassPrediction):
                out.append(answer)
            else:
                label = labels[0] if answer is None else answer
                out.append(ClassPrediction(label, _confident(label, labels)))
        return out

    def reference_loss(self, examples: Sequence[SFTExample], *, batch_size: int) -> list[TokenLoss]:
        self.history.append(("reference_loss", list(examples)))
        tokens = [max(1, len(e.output.split())) for e in examples]
        return [TokenLoss(self.loss_per_token * n, n) for n in tokens]

    def close(self) -> None:
        self.history.append(("close", None))
        self.closed = True


def _confident(label: str, labels: Sequence[str]) -> Dict[str, float]:
    """Probabilities that favour ``label`` (0.9) and share the rest, summing to 1."""
    others = sorted(set(labels) - {label})
    if not others:
        return {label: 1.0}
    return {label: 0.9, **{o: 0.1 / len(others) for o in others}}


class ScriptedModelBackend(ModelBackend):
    """A backend that follows a script; see the module docstring.

    ``losses`` is the loss logged at each step (one step per value); ``error``, when set, is raised
    by ``train`` after it is recorded, to drive the failure paths of the train use case.
    """

    PLUGIN_NAME = "scripted"
    WEIGHTS_FILE = "adapter_model.safetensors"

    def __init__(
        self, losses: Sequence[float] = (2.0, 1.4, 0.9, 0.6), *, error: Optional[Exception] = None
    ) -> None:
        self.losses = list(losses)
        self.error = error
        self.answers: Deque[Answer] = deque()
        self.history: List[Call] = []

    def enqueue(self, *answers: Answer) -> None:
        """Answers for the next predictions of any predictor this backend loads, in order."""
        self.answers.extend(answers)

    def supports(self, task: str) -> bool:
        return task in TASKS

    def environment(self) -> Dict[str, str]:
        return {"backend": self.PLUGIN_NAME, "scripted_backend_version": "1"}

    def validate_model(self, base_model: str, task: str) -> None:
        self.history.append(("validate_model", base_model))
        if not base_model.strip():
            raise BackendError("base_model is empty.", hint="Set base_model to a model folder or hub id.")
        if not self.supports(task):
            raise BackendError(f"The scripted backend has no task {task!r}; it knows {', '.join(TASKS)}.")

    def train(self, request: TrainRequest, callbacks: TrainCallbacks) -> TrainOutcome:
        self.history.append(("train", request))
        if self.error is not None:
            raise self.error
        config = request.config
        total = len(self.losses)
        callbacks.start(total)
        log: List[Dict[str, Any]] = []
        for step, loss in enumerate(self.losses, 1):
            metrics = {"loss": loss, "epoch": config.training.num_epochs * step / total}
            callbacks.step(step, total)
            callbacks.log(step, metrics)
            log.append({"step": step, **metrics})
        self._write_adapter(request)
        words = sum(len(str(e.target).split()) for e in request.train_examples)
        batch = config.training.batch_size
        return TrainOutcome(
            global_step=total,
            epochs=float(config.training.num_epochs),
            train_loss=sum(self.losses) / total if total else None,
            eval_loss=self.losses[-1] if request.val_examples and self.losses else None,
            tokens_processed=int(words * config.training.num_epochs),
            train_rows=len(request.train_examples),
            per_device_batch_size=batch,
            global_batch_size=batch,
            architecture="scripted",
            trainable_parameters=config.lora.r * 8,
            total_parameters=1000,
            log_history=log,
        )

    def _write_adapter(self, request: TrainRequest) -> None:
        """A real-looking adapter whose bytes change exactly when the config or the data change."""
        folder = Path(request.output_dir) / ADAPTER_DIR
        folder.mkdir(parents=True, exist_ok=True)
        config = request.config
        (folder / "adapter_config.json").write_text(
            json.dumps(
                {
                    "backend": self.PLUGIN_NAME,
                    "base_model_name_or_path": config.base_model,
                    "task": config.task,
                    "r": config.lora.r,
                    "lora_alpha": config.lora.alpha,
                    "labels": list(request.labels),
                },
                indent=2,
            ),
            encoding="utf-8",
        )
        digest = hashlib.sha256(config.canonical_json().encode("utf-8"))
        for example in request.train_examples:
            digest.update(json.dumps(example.to_row(), sort_keys=True).encode("utf-8"))
        (folder / self.WEIGHTS_FILE).write_bytes(digest.digest() * 32)

    def load(
        self, run_dir: Path, training_info: Mapping[str, Any], *, device: Optional[str] = None
    ) -> Predictor:
        self.history.append(("load", Path(run_dir)))
        adapter = Path(run_dir) / ADAPTER_DIR / "adapter_config.json"
        if not adapter.is_file():
            raise BackendError(f"No trained adapter at {adapter}", hint="Train the run first.")
        labels = training_info.get("labels") or json.loads(adapter.read_text(encoding="utf-8"))["labels"]
        return ScriptedPredictor(
            self.answers, self.history, labels, loss_per_token=self.losses[-1] if self.losses else 1.0
        )


class InMemoryArtifactStore(ArtifactStore):
    """Run files in memory; see the module docstring.

    ``root`` only names the store in messages; ``local_root`` holds the per-run local folders
    (default: a temp folder made on first use; pass pytest's ``tmp_path`` to have it cleaned up).
    """

    PLUGIN_NAME = "memory"

    def __init__(self, root: Union[str, Path] = "memory-runs", *, local_root: Optional[Path] = None) -> None:
        super().__init__(Path(root))
        self.files: Dict[str, Dict[str, bytes]] = {}
        self._local_root = local_root
        self._lock = threading.Lock()

    def create_run(self, name: Optional[str] = None, *, prefix: str = "run") -> RunLocation:
        with self._lock:
            run_id = next(i for i in run_id_candidates(name, prefix=prefix) if i not in self.files)
            self.files[run_id] = {}
        return RunLocation(run_id, self.local_dir(run_id))

    def location(self, run_id: str) -> RunLocation:
        if not is_plain_run_id(run_id) or run_id not in self.files:
            raise RunNotFoundError(f"No run {run_id!r} in {self.root}")
        return RunLocation(run_id, self.local_dir(run_id))

    def list_runs(self) -> List[RunLocation]:
        return [self.location(r) for r in sorted(self.files) if RUN_META in self.files[r]]

    def _run_files(self, run_id: str, relpath: str) -> Dict[str, bytes]:
        rel = PurePosixPath(relpath)
        if rel.is_absolute() or ".." in rel.parts or not rel.parts:
            raise StoreError(f"Run file paths are relative to the run folder, got {relpath!r}")
        self.location(run_id)
        return self.files[run_id]

    def _key(self, relpath: str) -> str:
        return PurePosixPath(relpath).as_posix()

    def _name(self, run_id: str, relpath: str) -> str:
        return f"{self.root}/{run_id}/{self._key(relpath)}"

    def _invalid(self, run_id: str, relpath: str, lineno: int, exc: json.JSONDecodeError) -> StoreError:
        return StoreError(f"{self._name(run_id, relpath)}:{lineno}: not valid JSON ({exc.msg})")

    def write_text(self, run_id: str, relpath: str, text: str) -> Path:
        self._run_files(run_id, relpath)[self._key(relpath)] = text.encode("utf-8")
        return Path(self._name(run_id, relpath))

    def write_json(self, run_id: str, relpath: str, data: Any) -> Path:
        return self.write_text(run_id, relpath, json.dumps(data, indent=2, ensure_ascii=False) + "\n")

    def write_jsonl(self, run_id: str, relpath: str, rows: Iterable[Mapping[str, Any]]) -> Path:
        text = "".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows)
        return self.write_text(run_id, relpath, text)

    def read_text(self, run_id: str, relpath: str) -> str:
        data = self._run_files(run_id, relpath).get(self._key(relpath))
        if data is None:
            raise StoreError(f"{self._name(run_id, relpath)} not found")
        try:
            return data.decode("utf-8")
        except UnicodeDecodeError as exc:
            raise StoreError(f"Cannot read {self._name(run_id, relpath)}: {exc}") from exc

    def read_json(self, run_id: str, relpath: str) -> Any:
        try:
            return json.loads(self.read_text(run_id, relpath))
        except json.JSONDecodeError as exc:
            raise self._invalid(run_id, relpath, exc.lineno, exc) from None

    def iter_jsonl(self, run_id: str, relpath: str) -> Iterator[Any]:
        for lineno, line in enumerate(self.read_text(run_id, relpath).splitlines(), 1):
            if line.strip():
                try:
                    yield json.loads(line)
                except json.JSONDecodeError as exc:
                    raise self._invalid(run_id, relpath, lineno, exc) from None

    def exists(self, run_id: str, relpath: str) -> bool:
        try:
            return self._key(relpath) in self._run_files(run_id, relpath)
        except StoreError:
            return False

    def local_dir(self, run_id: str) -> Path:
        if run_id not in self.files:
            raise RunNotFoundError(f"No run {run_id!r} in {self.root}")
        with self._lock:
            if self._local_root is None:
                self._local_root = Path(tempfile.mkdtemp(prefix="verifily-memory-store-"))
        folder = self._local_root / run_id
        folder.mkdir(parents=True, exist_ok=True)
        return folder

    def sync(self, run_id: str) -> None:
        """ "Upload" every file a backend wrote under ``local_dir`` into the store."""
        local = self.local_dir(run_id)
        for path in sorted(p for p in local.rglob("*") if p.is_file()):
            self.files[run_id][path.relative_to(local).as_posix()] = path.read_bytes()

    def size_bytes(self, run_id: str) -> int:
        self.location(run_id)
        return sum(len(b) for b in self.files[run_id].values())


class RecordingTracker(Tracker):
    """Keeps every call in ``calls`` (``("start", ...)``, ``("log", ...)``, ...).

    ``fail_on`` names methods that raise ``TrackerError`` instead (e.g. ``{"log"}``).
    """

    PLUGIN_NAME = "recording"

    def __init__(self, config: Any, run_dir: Path, *, fail_on: Iterable[str] = ()) -> None:
        super().__init__(config, run_dir)
        self.fail_on = set(fail_on)
        self.calls: List[Call] = []

    def _record(self, method: str, payload: Any) -> None:
        if method in self.fail_on:
            raise TrackerError(f"RecordingTracker told to fail in {method}()")
        self.calls.append((method, payload))

    def start(self, run_id: str, config: Mapping[str, Any]) -> None:
        self._record("start", (run_id, dict(config)))

    def log(self, metrics: Mapping[str, float], step: int) -> None:
        self._record("log", (step, dict(metrics)))

    def log_artifact(self, path: Path, name: str) -> None:
        self._record("log_artifact", (Path(path), name))

    def finish(self, summary: Mapping[str, Any]) -> None:
        self._record("finish", dict(summary))

    @property
    def logged(self) -> List[Tuple[int, Dict[str, float]]]:
        """``(step, metrics)`` of every successful ``log`` call, in order."""
        return [payload for method, payload in self.calls if method == "log"]


class RecordingBillingSink(BillingSink):
    """Keeps delivered events in ``events``; set ``fail`` to make ``emit`` raise ``BillingError``."""

    PLUGIN_NAME = "recording"

    def __init__(self, *, fail: bool = False) -> None:
        self.fail = fail
        self.events: List[Dict[str, Any]] = []
        self.attempts = 0
        self.closed = False

    @classmethod
    def from_environment(cls, run_dir: Optional[Path]) -> Optional[RecordingBillingSink]:
        """Always active: a test that registers it wants its events."""
        return cls()

    def emit(self, event: Mapping[str, Any]) -> None:
        self.attempts += 1
        if self.fail:
            raise BillingError(f"RecordingBillingSink told to fail (event {event.get('event_id')!r})")
        self.events.append(dict(event))

    def close(self) -> None:
        self.closed = True


@hookimpl
def verifily_register_model_backend() -> type[ModelBackend]:
    return ScriptedModelBackend


@hookimpl
def verifily_register_artifact_store() -> type[ArtifactStore]:
    return InMemoryArtifactStore


@hookimpl
def verifily_register_tracker() -> type[Tracker]:
    return RecordingTracker


@hookimpl
def verifily_register_billing_sink() -> type[BillingSink]:
    return RecordingBillingSink


__all__ = [
    "InMemoryArtifactStore",
    "RecordingBillingSink",
    "RecordingTracker",
    "ScriptedModelBackend",
    "ScriptedPredictor",
]
