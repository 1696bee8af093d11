"""Predictions from the model, through the ModelBackend port, with one progress across passes.

Only the model outputs the requested metrics need are computed (``settings.needs``, read from
each ``MetricSpec``), and the predictor is called a chunk at a time so that a long evaluation
reports progress and a backend that returns the wrong number of answers is caught at once.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Callable, List, Mapping, Optional, Sequence

from verifily_core.domain import metrics as m
from verifily_core.domain.evaluation import Record, build_records
from verifily_core.domain.examples import ClassificationExample, Example, SFTExample
from verifily_core.errors import BackendError
from verifily_core.ports.artifact_store import ArtifactStore
from verifily_core.ports.model_backend import ModelBackend, Predictor
from verifily_core.services.evaluation.inputs import check_weights
from verifily_core.services.evaluation.settings import EvalSettings, needs

ProgressFn = Callable[[int, int], None]
"""``progress(done, total)``: predictions made so far over all model passes (generation, loss)."""
PredictFn = Callable[[Sequence[Any]], Sequence[Any]]

CHUNK_BATCHES = 8  # batches per predictor call: long enough to sort by length, short enough to report


def predict(
    store: ArtifactStore,
    run_id: str,
    backend: ModelBackend,
    info: Mapping[str, Any],
    examples: Sequence[Example],
    settings: EvalSettings,
    progress: Optional[ProgressFn],
) -> List[Record]:
    run_dir = check_weights(store, run_id, info, backend.artifact_layout().weights)
    wanted = needs(settings)
    predictor = backend.load(Path(run_dir), info, device=settings.device)
    size = settings.batch_size
    batched = _Chunked(size * CHUNK_BATCHES, len(examples) * sum(wanted.values()), progress)
    try:
        if wanted[m.CLASSIFY]:
            texts = [ex for ex in examples if isinstance(ex, ClassificationExample)]
            labels = batched(lambda c: predictor.classify(c, batch_size=size), texts, "classify")
            return build_records(examples, class_predictions=labels)
        sft = [ex for ex in examples if isinstance(ex, SFTExample)]
        generated = losses = None
        if wanted[m.GENERATE]:
            generated = batched(lambda c: _generate(predictor, c, settings), sft, "generate")
        if wanted[m.REFERENCE_LOSS]:
            losses = batched(lambda c: predictor.reference_loss(c, batch_size=size), sft, "perplexity")
        return build_records(examples, predictions=generated, losses=losses)
    finally:
        predictor.close()


def _generate(predictor: Predictor, chunk: Sequence[SFTExample], settings: EvalSettings) -> List[str]:
    return predictor.generate(
        chunk,
        max_new_tokens=settings.max_new_tokens,
        num_beams=settings.num_beams,
        batch_size=settings.batch_size,
    )


class _Chunked:
    """Calls the predictor a chunk at a time, so that one progress can be reported across passes."""

    def __init__(self, chunk_size: int, total: int, progress: Optional[ProgressFn]) -> None:
        self.chunk_size = chunk_size
        self.total = total
        self.progress = progress
        self.done = 0
        if progress:
            progress(0, total)

    def __call__(self, call: PredictFn, items: Sequence[Any], stage: str) -> List[Any]:
        out: List[Any] = []
        for start in range(0, len(items), self.chunk_size):
            chunk = items[start : start + self.chunk_size]
            answers = list(call(chunk))
            if len(answers) != len(chunk):
                raise BackendError(
                    f"The model backend returned {len(answers)} {stage} results for {len(chunk)} examples."
                )
            out.extend(answers)
            self.done += len(chunk)
            if self.progress:
                self.progress(self.done, self.total)
        return out


__all__ = ["CHUNK_BATCHES", "ProgressFn", "predict"]
