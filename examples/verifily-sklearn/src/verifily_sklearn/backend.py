"""``sklearn``: TF-IDF features and a logistic regression, for ``task: classification``.

A complete ModelBackend in one page: it refuses what it cannot do before any work starts, imports
scikit-learn only inside the methods that need it (so ``verifily --help`` stays fast), writes a
``model/`` folder that the evaluate service accepts, and raises the core's error types only.

The fitted model is saved as plain JSON (vocabulary, idf weights, coefficients), never a pickle:
loading a pickle runs whatever code the file names, so a swapped model file in a run folder would
execute on ``eval-cmd``. JSON is data only, and its bytes are deterministic for ``reproduce``.
"""

from __future__ import annotations

import json
import math
import time
from importlib import metadata
from pathlib import Path
from typing import Any, Dict, List, Mapping, Optional, Sequence

from verifily_core.domain.examples import ClassificationExample, SFTExample
from verifily_core.domain.training import (
    ClassPrediction,
    TokenLoss,
    TrainCallbacks,
    TrainOutcome,
    TrainRequest,
)
from verifily_core.errors import BackendError, DataError, DependencyMissingError
from verifily_core.ports import ModelBackend, Predictor
from verifily_sklearn.settings import SklearnSettings

MODELS = ("tfidf-logreg",)
PIPELINE_FILE = "model/pipeline.json"
LABELS_FILE = "model/labels.json"
#: Names the layout of ``pipeline.json``; a file of another layout is refused, never guessed at.
MODEL_FORMAT = "verifily-sklearn/tfidf-logreg/1"


class SklearnBackend(ModelBackend):
    PLUGIN_NAME = "sklearn"

    def supports(self, task: str) -> bool:
        return task == "classification"

    def environment(self) -> Dict[str, str]:
        # Versions decide whether a run reproduces; read from metadata, so nothing heavy is imported.
        return {name: _version(name) for name in ("scikit-learn", "numpy", "scipy")}

    def validate_model(self, base_model: str, task: str) -> None:
        if not self.supports(task):
            raise BackendError(f"The sklearn backend does classification only, not task {task!r}.",
                               hint="Use `backend: hf` for sft and seq2seq.")
        if base_model not in MODELS:
            raise BackendError(f"The sklearn backend has no model {base_model!r}.",
                               hint=f"Set `base_model: {MODELS[0]}` (known: {', '.join(MODELS)}).")

    def train(self, request: TrainRequest, callbacks: TrainCallbacks) -> TrainOutcome:
        config = request.config
        self.validate_model(config.base_model, config.task)
        settings = config.plugin_settings("sklearn", SklearnSettings)  # `plugins.sklearn` in the config
        texts, labels = _rows(request.train_examples)
        pipeline = _pipeline(config.seed, settings)
        started = time.perf_counter()
        callbacks.start(1)
        try:
            pipeline.fit(texts, labels)
        except ValueError as exc:  # e.g. one class only, or an empty vocabulary
            raise BackendError(f"scikit-learn could not fit the training set: {exc}") from exc
        train_loss = _log_loss(pipeline, texts, labels)
        val_texts, val_labels = _rows(request.val_examples) if request.val_examples else ([], [])
        eval_loss = _log_loss(pipeline, val_texts, val_labels) if val_texts else None
        metrics = {"loss": train_loss, **({"eval_loss": eval_loss} if eval_loss is not None else {})}
        callbacks.step(1, 1)
        callbacks.log(1, metrics)
        _save(pipeline, Path(request.output_dir))
        return TrainOutcome(
            global_step=1, epochs=1.0, train_loss=train_loss, eval_loss=eval_loss,
            wall_seconds=time.perf_counter() - started, train_rows=len(texts),
            architecture="TfidfVectorizer+LogisticRegression",
            trainable_parameters=int(pipeline[-1].coef_.size + pipeline[-1].intercept_.size),
            total_parameters=int(pipeline[-1].coef_.size + pipeline[-1].intercept_.size),
            log_history=[{"step": 1, **metrics}],
        )

    def load(
        self, run_dir: Path, training_info: Mapping[str, Any], *, device: Optional[str] = None
    ) -> Predictor:
        folder = Path(run_dir)
        try:
            saved = json.loads((folder / PIPELINE_FILE).read_text(encoding="utf-8"))
            labels = json.loads((folder / LABELS_FILE).read_text(encoding="utf-8"))
            pipeline = _restore(saved, int(training_info.get("seed") or 0))
        except (OSError, ValueError, KeyError, TypeError) as exc:  # missing, corrupt or another layout
            raise BackendError(f"Cannot load the sklearn model of {folder}: {exc}",
                               hint="Was this run trained with `backend: sklearn`?") from exc
        return SklearnPredictor(pipeline, labels)


class SklearnPredictor(Predictor):
    """Probabilities for every label, in the order of the inputs."""

    def __init__(self, pipeline: Any, labels: Sequence[str]) -> None:
        self.pipeline = pipeline
        self.labels = list(labels)

    def classify(
        self, examples: Sequence[ClassificationExample], *, batch_size: int
    ) -> list[ClassPrediction]:
        if not examples:
            return []
        rows = self.pipeline.predict_proba([ex.text for ex in examples])
        out = []
        for row in rows:
            probabilities = {label: float(p) for label, p in zip(self.labels, row)}
            out.append(ClassPrediction(max(self.labels, key=probabilities.__getitem__), probabilities))
        return out

    def generate(
        self, examples: Sequence[SFTExample], *, max_new_tokens: int, num_beams: int, batch_size: int
    ) -> list[str]:
        raise BackendError("Text generation is not supported by the sklearn backend (classification only).")

    def reference_loss(self, examples: Sequence[SFTExample], *, batch_size: int) -> list[TokenLoss]:
        raise BackendError("Reference loss is not supported by the sklearn backend (classification only).")


def _rows(examples: Sequence[Any]) -> tuple[List[str], List[str]]:
    bad = [f"{getattr(ex, 'file', '?')}:{getattr(ex, 'line', '?')}" for ex in examples
           if not isinstance(ex, ClassificationExample)]
    if bad:
        raise DataError("The sklearn backend needs classification rows (text, label).",
                        problems=[f"{where}: not a classification row" for where in bad[:10]])
    return [ex.text for ex in examples], [ex.label for ex in examples]


def _pipeline(seed: int, settings: Optional[SklearnSettings] = None) -> Any:
    """The unfitted pipeline; ``settings`` (``plugins.sklearn``) matter to fitting only, not to loading."""
    settings = settings or SklearnSettings()
    pipeline_mod = _import("sklearn.pipeline")
    text = _import("sklearn.feature_extraction.text")
    linear = _import("sklearn.linear_model")
    return pipeline_mod.Pipeline([
        ("tfidf", text.TfidfVectorizer(ngram_range=(1, 2), sublinear_tf=True)),
        ("logreg", linear.LogisticRegression(max_iter=settings.max_iter, C=settings.C, random_state=seed)),
    ])


def _log_loss(pipeline: Any, texts: Sequence[str], labels: Sequence[str]) -> float:
    """Mean negative log-likelihood of the true labels: the loss curve's one point."""
    index = {label: i for i, label in enumerate(pipeline.classes_)}
    rows = pipeline.predict_proba(list(texts))
    nll = [-math.log(max(float(row[index[y]]), 1e-12)) if y in index else math.log(1e12)
           for row, y in zip(rows, labels)]
    return sum(nll) / len(nll)


def _save(pipeline: Any, output_dir: Path) -> None:
    """Write the fitted pipeline as JSON data: same data, seed and versions give the same bytes."""
    tfidf, logreg = pipeline[0], pipeline[-1]
    saved = {
        "format": MODEL_FORMAT,
        "vocabulary": {str(term): int(index) for term, index in tfidf.vocabulary_.items()},
        "idf": [float(x) for x in tfidf.idf_],
        "classes": [str(label) for label in logreg.classes_],
        "coef": [[float(x) for x in row] for row in logreg.coef_],
        "intercept": [float(x) for x in logreg.intercept_],
    }
    (output_dir / "model").mkdir(parents=True, exist_ok=True)
    text = json.dumps(saved, sort_keys=True, separators=(",", ":"))
    (output_dir / PIPELINE_FILE).write_text(text, encoding="utf-8")
    labels = [str(label) for label in pipeline.classes_]
    (output_dir / LABELS_FILE).write_text(json.dumps(labels, indent=2), encoding="utf-8")


def _restore(saved: Mapping[str, Any], seed: int) -> Any:
    """The fitted pipeline again, from the numbers :func:`_save` wrote (no code is loaded)."""
    if saved.get("format") != MODEL_FORMAT:
        raise ValueError(f"{PIPELINE_FILE} is not of format {MODEL_FORMAT!r}")
    numpy = _import("numpy")
    pipeline = _pipeline(seed)
    tfidf, logreg = pipeline[0], pipeline[-1]
    tfidf.vocabulary_ = {str(k): int(v) for k, v in dict(saved["vocabulary"]).items()}
    tfidf.idf_ = numpy.asarray(saved["idf"], dtype=float)
    logreg.classes_ = numpy.asarray(saved["classes"])
    logreg.coef_ = numpy.asarray(saved["coef"], dtype=float)
    logreg.intercept_ = numpy.asarray(saved["intercept"], dtype=float)
    if logreg.coef_.shape[1] != len(tfidf.vocabulary_):
        raise ValueError(f"{PIPELINE_FILE}: coefficients do not match the vocabulary")
    return pipeline


def _import(module: str) -> Any:
    import importlib

    try:
        return importlib.import_module(module)
    except ImportError as exc:
        raise DependencyMissingError(f"The sklearn backend needs {module.split('.')[0]}: {exc}",
                                     hint="pip install scikit-learn") from exc


def _version(distribution: str) -> str:
    try:
        return metadata.version(distribution)
    except metadata.PackageNotFoundError:
        return "not installed"
