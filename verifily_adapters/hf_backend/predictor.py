"""Prediction over a trained run: batched generation, classification and teacher-forced losses.

Requests are sorted longest-first so that each batch pads little, and results are put back in
input order. Decoder-only models are padded on the left for generation, so every row's prompt ends
where its answer begins; greedy decoding (``num_beams == 1``) then gives the same text batched as
one at a time (tested).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Callable, Dict, List, Mapping, Optional, Sequence, TypeVar

from verifily_adapters.hf_backend import devices, loading
from verifily_adapters.hf_backend.artifacts import ADAPTER_DIR, MODEL_DIR, TOKENIZER_DIR
from verifily_adapters.hf_backend.references import ModelRef, resolve_reference
from verifily_adapters.hf_backend.tensors import IGNORE_INDEX, Collator, Encoder, Feature
from verifily_core.domain.examples import ClassificationExample, SFTExample
from verifily_core.domain.prompts import ALPACA, CHAT_TEMPLATE
from verifily_core.domain.training import ClassPrediction, TokenLoss
from verifily_core.errors import BackendError
from verifily_core.ports.model_backend import Predictor

T = TypeVar("T")


class HFPredictor(Predictor):
    """A loaded model (base + adapter, or full weights) with its tokenizer, in eval mode."""

    def __init__(
        self,
        model: Any,
        tokenizer: Any,
        architecture: str,
        labels: Sequence[str],
        max_length: int,
        device: Any,
        prompt_format: str = ALPACA,
    ) -> None:
        self.model = model
        self.tokenizer = tokenizer
        self.architecture = architecture
        self.labels = list(labels)
        self.device = device
        self.encoder = Encoder(
            tokenizer, architecture, max_length, {label: i for i, label in enumerate(labels)}, prompt_format
        )

    # ------------------------------------------------------------------ port
    def generate(
        self, examples: Sequence[SFTExample], *, max_new_tokens: int, num_beams: int, batch_size: int
    ) -> List[str]:
        import torch

        self._require(generative=True)
        causal = self.architecture == loading.CAUSAL_LM
        if causal:
            # keep the end of an over-long prompt: it holds the response header the answer follows
            prompts = [
                {"input_ids": self.encoder.prompt_ids(e)[-self.encoder.max_length :]} for e in examples
            ]
        else:
            prompts = [
                {"input_ids": self.encoder.encoder_ids(self.encoder.prompt_text(e))[0]} for e in examples
            ]
        collate = Collator(self.tokenizer.pad_token_id, side="left" if causal else "right")

        def run(features: List[Feature]) -> List[str]:
            batch = self._to_device(collate(features))
            with torch.no_grad():
                out = self.model.generate(
                    **batch,
                    max_new_tokens=max_new_tokens,
                    num_beams=num_beams,
                    do_sample=False,
                    pad_token_id=self.tokenizer.pad_token_id,
                    eos_token_id=self.tokenizer.eos_token_id,
                )
            new = out[:, batch["input_ids"].shape[1] :] if causal else out
            return [t.strip() for t in self.tokenizer.batch_decode(new, skip_special_tokens=True)]

        return sorted_batches(prompts, batch_size, run)

    def classify(
        self, examples: Sequence[ClassificationExample], *, batch_size: int
    ) -> List[ClassPrediction]:
        import torch

        if self.architecture != loading.SEQUENCE_CLASSIFICATION:
            raise BackendError(f"classify() needs a classification run; this one is {self.architecture}.")
        inputs = [{"input_ids": self.encoder.encoder_ids(e.text)[0]} for e in examples]
        collate = Collator(self.tokenizer.pad_token_id)

        def run(features: List[Feature]) -> List[ClassPrediction]:
            batch = self._to_device(collate(features))
            with torch.no_grad():
                probs = torch.softmax(self.model(**batch).logits.float(), dim=-1).cpu()
            return [
                ClassPrediction(
                    label=self.labels[int(row.argmax())],
                    probabilities={name: float(p) for name, p in zip(self.labels, row)},
                )
                for row in probs
            ]

        return sorted_batches(inputs, batch_size, run)

    def reference_loss(self, examples: Sequence[SFTExample], *, batch_size: int) -> List[TokenLoss]:
        """Summed NLL of each reference output (+ EOS, as trained), teacher-forced after its prompt."""
        import torch

        self._require(generative=True)
        features = [self.encoder.encode(e)[0] for e in examples]
        collate = Collator(self.tokenizer.pad_token_id)

        def run(batch_features: List[Feature]) -> List[TokenLoss]:
            batch = self._to_device(collate(batch_features))
            labels = batch.pop("labels")
            with torch.no_grad():
                if self.architecture == loading.SEQ2SEQ_LM:
                    logits = self.model(**batch, labels=labels).logits.float()
                else:
                    logits = self.model(**batch).logits.float()[:, :-1]
                    labels = labels[:, 1:]
            nll = torch.nn.functional.cross_entropy(
                logits.transpose(1, 2), labels, ignore_index=IGNORE_INDEX, reduction="none"
            )
            mask = labels != IGNORE_INDEX
            return [TokenLoss(float(n.sum()), int(m.sum())) for n, m in zip(nll.cpu(), mask.cpu())]

        return sorted_batches(features, batch_size, run)

    def close(self) -> None:
        self.model = None

    # ------------------------------------------------------------------ helpers
    def _require(self, *, generative: bool) -> None:
        if generative and self.architecture == loading.SEQUENCE_CLASSIFICATION:
            raise BackendError("generate()/reference_loss() need an SFT run; this one is a classifier.")

    def _to_device(self, batch: Mapping[str, Any]) -> Dict[str, Any]:
        return {k: v.to(self.device) for k, v in batch.items()}


def sorted_batches(
    features: Sequence[Feature], batch_size: int, run: Callable[[List[Feature]], List[T]]
) -> List[T]:
    """Call ``run`` on batches of features ordered longest-first; results come back in input order."""
    order = sorted(range(len(features)), key=lambda i: -len(features[i]["input_ids"]))
    results: List[Any] = [None] * len(features)
    step = max(batch_size, 1)
    for start in range(0, len(order), step):
        chunk = order[start : start + step]
        for i, result in zip(chunk, run([features[i] for i in chunk])):
            results[i] = result
    return results


def load_predictor(
    run_dir: Path, training_info: Mapping[str, Any], device: Optional[str] = None
) -> HFPredictor:
    """Base model + ``adapter/`` (or ``model/``) and ``tokenizer/`` of a finished run."""
    loading.quiet()
    run_dir = Path(run_dir)
    base = str(training_info.get("base_model_path") or training_info.get("base_model") or "")
    task = str(training_info.get("task", "sft"))
    ref = resolve_reference(base, trust_remote_code=training_info.get("trust_remote_code") is True)
    architecture = training_info.get("architecture") or loading.detect_architecture(
        task, loading.model_config(ref)
    )
    labels = _labels(training_info)
    target = devices.resolve_device(device or "auto")
    quantization = str(training_info.get("quantization") or "none")
    adapter, full = run_dir / ADAPTER_DIR, run_dir / MODEL_DIR
    if training_info.get("baseline"):  # a base model evaluated as it is (services.baseline)
        model = loading.load_model(ref, architecture, labels=labels, quantization=quantization, device=target)
    elif adapter.is_dir() and training_info.get("lora_enabled", True):
        from peft import PeftModel

        model = loading.load_model(ref, architecture, labels=labels, quantization=quantization, device=target)
        try:
            model = PeftModel.from_pretrained(model, str(adapter))
        except Exception as exc:  # noqa: BLE001
            raise BackendError(
                f"Could not load the adapter in {adapter}: {type(exc).__name__}: {exc}"
            ) from exc
    elif full.is_dir():
        model = loading.load_model(ModelRef(str(full), True, True), architecture, labels=labels)
    else:
        raise BackendError(
            f"Run folder {run_dir} has neither adapter/ nor model/: nothing to load.",
            hint="Check that training completed (status: completed in run_meta.json).",
        )
    if quantization == "none":
        model = model.to(target)
    tokenizer_dir = run_dir / TOKENIZER_DIR
    tokenizer = (
        loading.load_tokenizer(tokenizer_dir)
        if tokenizer_dir.is_dir()
        else loading.load_tokenizer(ref.name, ref)
    )
    return HFPredictor(
        model.eval(),
        tokenizer,
        architecture,
        labels,
        int(training_info.get("max_seq_length") or 2048),
        target,
        CHAT_TEMPLATE if training_info.get("prompt_format") == CHAT_TEMPLATE else ALPACA,
    )


def _labels(training_info: Mapping[str, Any]) -> List[str]:
    """Label names by class id: ``labels`` when given, else ``label2id`` ordered by id."""
    if training_info.get("labels"):
        return [str(x) for x in training_info["labels"]]
    label2id = training_info.get("label2id") or {}
    return [name for name, _ in sorted(label2id.items(), key=lambda kv: kv[1])]


def export_merged(run_dir: Path, training_info: Mapping[str, Any], out_dir: Path) -> None:
    """The run's model in full precision (a LoRA adapter merged into its base) and its tokenizer,
    saved with ``save_pretrained`` into a new folder (written beside it, then renamed into place)."""
    import os
    import shutil
    import tempfile

    if out_dir.exists():
        raise BackendError(
            f"{out_dir} already exists; export writes a new folder.", hint="Pick another --merged path."
        )
    if training_info.get("baseline"):
        raise BackendError("A baseline run has no trained weights to export; it is its base model.")
    predictor = load_predictor(run_dir, {**training_info, "quantization": "none"}, "cpu")
    model = predictor.model
    if hasattr(model, "merge_and_unload"):
        model = model.merge_and_unload()
    out_dir.parent.mkdir(parents=True, exist_ok=True)
    work = Path(tempfile.mkdtemp(prefix=f".{out_dir.name}-", dir=out_dir.parent))
    try:
        model.save_pretrained(str(work))
        predictor.tokenizer.save_pretrained(str(work))
        os.replace(work, out_dir)
    finally:
        shutil.rmtree(work, ignore_errors=True)
