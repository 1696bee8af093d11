"""The predict use case: a trained run's model answering new rows, exactly as it was evaluated.

``load_run`` checks the run folder against its seal (``hashes.json``) before anything is loaded,
then loads the model once through the backend; ``predict`` renders each row as training and
evaluation did (Alpaca prompt or the chat template, the same truncation) and decodes with the run's
``eval:`` settings (greedy or beams, ``generation_max_new_tokens``), batched.

Rows are the data formats of docs/data.md with the answer left out: ``{"instruction", "input"?}``
or ``{"messages": [...]}`` for SFT (a conversation that ends with an assistant turn is answered
again for that turn, as evaluation does), ``{"text"}`` for classification; a plain string stands for
the instruction or the text. They are validated like training rows (file, line and field).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Dict, List, Mapping, Optional, Sequence, Tuple, Union

from verifily_core.config import TrainConfig
from verifily_core.domain.data_validation import PARSERS, Problems
from verifily_core.domain.examples import ClassificationExample, Example, SFTExample
from verifily_core.domain.runs import CONFIG_FILE, TRAINING_INFO
from verifily_core.errors import DataError
from verifily_core.ports.artifact_store import ArtifactStore
from verifily_core.ports.model_backend import ModelBackend, Predictor
from verifily_core.services.evaluation.inputs import check_weights, read_run_config, read_training_info
from verifily_core.services.evaluation.settings import EvalSettings, resolve_settings
from verifily_core.services.run_folder.seal import check_seal

Row = Union[str, Mapping[str, Any]]
PLACEHOLDER = "?"  # the answer a row to predict leaves out; never shown or used


def loaded_files(backend: ModelBackend) -> Tuple[str, ...]:
    """What loading a run reads (checked against the seal first): its config and training info, and
    the entries the backend's ``load`` reads (``ModelBackend.artifact_layout``)."""
    return (CONFIG_FILE, TRAINING_INFO, *backend.artifact_layout().loaded)


def examples_to_predict(
    rows: Sequence[Row], task: str, source: str = "<input>", lines: Optional[Sequence[int]] = None
) -> List[Example]:
    """Rows without answers as examples, validated like training rows; errors name ``source:line``
    (``lines``: each row's line in its file, else its position)."""
    problems = Problems()
    examples: List[Example] = []
    for line, row in zip(lines or range(1, len(rows) + 1), rows):
        if isinstance(row, str):
            row = {"text": row} if task == "classification" else {"instruction": row}
        if not isinstance(row, Mapping):
            problems.add(source, line, "<row>", "expected an object {...} or a string")
            continue
        example = PARSERS[task](_with_placeholder(row, task), source, line, problems)
        if example is not None:
            examples.append(example)
    problems.raise_if_any(task)
    return examples


def _with_placeholder(row: Mapping[str, Any], task: str) -> Dict[str, Any]:
    """The row with a stand-in answer where it has none, so the one row validator applies."""
    filled = dict(row)
    if task == "classification":
        filled.setdefault("label", PLACEHOLDER)
    elif isinstance(filled.get("messages"), list):
        turns = filled["messages"]
        if not (turns and isinstance(turns[-1], Mapping) and turns[-1].get("role") == "assistant"):
            filled["messages"] = [*turns, {"role": "assistant", "content": PLACEHOLDER}]
    else:
        filled.setdefault("output", PLACEHOLDER)
    return filled


@dataclass
class LoadedRun:
    """A run's model, loaded once, ready to predict (``close()`` frees it)."""

    run_id: str
    task: str
    labels: List[str]
    settings: EvalSettings
    predictor: Predictor

    def predict(
        self,
        rows: Sequence[Row],
        *,
        batch_size: Optional[int] = None,
        progress: Optional[Callable[[int], None]] = None,
        source: str = "<input>",
        lines: Optional[Sequence[int]] = None,
    ) -> List[Any]:
        """Generated text (SFT) or ``{"label", "probabilities"}`` (classification), one per row.

        ``progress(n)`` is called after every batch with the number of rows it answered; ``source``
        and ``lines`` name the rows in validation errors.
        """
        examples = examples_to_predict(rows, self.task, source, lines)
        size = batch_size or self.settings.batch_size
        results: List[Any] = []
        for start in range(0, len(examples), size):
            chunk = examples[start : start + size]
            if self.task == "classification":
                texts = [e for e in chunk if isinstance(e, ClassificationExample)]
                results += [
                    {"label": p.label, "probabilities": dict(p.probabilities)}
                    for p in self.predictor.classify(texts, batch_size=size)
                ]
            else:
                sft = [e for e in chunk if isinstance(e, SFTExample)]
                results += self.predictor.generate(
                    sft,
                    max_new_tokens=self.settings.max_new_tokens,
                    num_beams=self.settings.num_beams,
                    batch_size=size,
                )
            if progress:
                progress(len(chunk))
        return results

    def close(self) -> None:
        self.predictor.close()


def load_run(
    store: ArtifactStore, run_id: str, backend: ModelBackend, *, device: Optional[str] = None
) -> LoadedRun:
    """The run's model, loaded after its files were checked against the seal (IntegrityError)."""
    store.location(run_id)  # RunNotFoundError for a run that is not there
    check_seal(store, run_id, loaded_files(backend))
    info = read_training_info(store, run_id)
    config: Optional[TrainConfig] = read_run_config(store, run_id)
    settings = resolve_settings(info, config, device=device)
    run_dir = check_weights(store, run_id, info, backend.artifact_layout().weights)
    predictor = backend.load(Path(run_dir), info, device=settings.device)
    return LoadedRun(run_id, settings.task, list(settings.labels), settings, predictor)


def export_merged(store: ArtifactStore, run_id: str, backend: ModelBackend, out_dir: Path) -> Path:
    """The run's model as one standalone folder, after its files were checked against the seal."""
    store.location(run_id)
    check_seal(store, run_id, loaded_files(backend))
    info = read_training_info(store, run_id)
    run_dir = check_weights(store, run_id, info, backend.artifact_layout().weights)
    backend.export_merged(Path(run_dir), info, out_dir)
    return out_dir


def read_rows(path: Path) -> Tuple[List[Any], List[int]]:
    """The JSON values of a JSONL file and their line numbers (blank lines skipped); DataError
    naming the first line that is not JSON."""
    import json

    rows: List[Any] = []
    lines: List[int] = []
    try:
        text = path.read_text(encoding="utf-8-sig")
    except (OSError, UnicodeDecodeError) as exc:
        raise DataError(f"Cannot read {path}: {exc}", hint="Pass a UTF-8 JSONL file with --input.") from exc
    for line, raw in enumerate(text.splitlines(), 1):
        if not raw.strip():
            continue
        try:
            rows.append(json.loads(raw))
            lines.append(line)
        except json.JSONDecodeError as exc:
            raise DataError(f"{path}:{line}: invalid JSON: {exc.msg} (column {exc.colno})") from exc
    if not rows:
        raise DataError(f"{path} holds no rows.", hint="One JSON object per line.")
    return rows, lines


__all__ = ["LoadedRun", "Row", "examples_to_predict", "export_merged", "load_run", "read_rows"]
