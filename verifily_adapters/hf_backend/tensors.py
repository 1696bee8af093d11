"""Examples to tensors: SFT prompt masking, truncation accounting, padding.

Training and evaluation share one encoder so that the prompt a model is asked at evaluation is
token for token the prompt it was trained on. The prompt and the response are tokenized separately
(so the prompt's tokens never depend on the response), and truncation cuts from the right and is
always counted: a row whose response is cut away entirely cannot teach anything and is reported.
Conversations (and instruction rows under ``prompt_format: chat_template``) are rendered by the
model's chat template with the loss on assistant turns only (:mod:`chat`); they produce the same
``input_ids``/``labels`` features (-100 where no loss), so padding and packing treat them alike.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Dict, List, Mapping, Optional, Sequence

from verifily_adapters.hf_backend import chat
from verifily_adapters.hf_backend.chat import IGNORE_INDEX as IGNORE_INDEX  # re-exported: batching, predictor
from verifily_adapters.hf_backend.loading import CAUSAL_LM, SEQ2SEQ_LM, SEQUENCE_CLASSIFICATION
from verifily_core.domain.examples import ClassificationExample, Example, SFTExample, where
from verifily_core.domain.prompts import ALPACA, prompt_of, uses_chat_template
from verifily_core.errors import BackendError, DataError

MAX_LISTED_ROWS = 20
Feature = Dict[str, Any]


@dataclass
class EncodedSet:
    """Features of a data split plus what truncation cost."""

    features: List[Feature] = field(default_factory=list)
    truncated_rows: int = 0
    truncated_tokens: int = 0
    unsupervised: List[str] = field(default_factory=list)


class Encoder:
    """Turns examples into token ids for one architecture and ``max_length``."""

    def __init__(
        self,
        tokenizer: Any,
        architecture: str,
        max_length: int,
        label2id: Optional[Mapping[str, int]] = None,
        prompt_format: str = ALPACA,
    ) -> None:
        if architecture != SEQUENCE_CLASSIFICATION and tokenizer.eos_token_id is None:
            raise BackendError(
                "The tokenizer has no EOS token, so generated answers could never end.",
                hint="Use a tokenizer with an eos_token.",
            )
        self.tokenizer = tokenizer
        self.architecture = architecture
        self.max_length = max_length
        self.label2id = dict(label2id or {})
        self.prompt_format = prompt_format

    # ------------------------------------------------------------------ pieces
    def prompt_text(self, example: SFTExample) -> str:
        """What the model reads before its answer: Alpaca headers or the chat template's rendering."""
        if uses_chat_template(example, self.prompt_format):
            return chat.generation_prompt(self.tokenizer, example)
        return prompt_of(example)

    def prompt_ids(self, example: SFTExample) -> List[int]:
        """Prompt tokens as the model sees them (special tokens such as BOS included; a chat
        template writes its own, so none are added to its text)."""
        templated = uses_chat_template(example, self.prompt_format)
        text = self.prompt_text(example)
        return list(self.tokenizer(text, add_special_tokens=not templated)["input_ids"])

    def _response_ids(self, example: SFTExample) -> List[int]:
        return list(self.tokenizer(example.output, add_special_tokens=False)["input_ids"]) + [
            self.tokenizer.eos_token_id
        ]

    def encoder_ids(self, text: str) -> tuple[List[int], int]:
        """Encoder-side ids truncated by the tokenizer (so closing special tokens survive), and the cut."""
        full = len(self.tokenizer(text)["input_ids"])
        ids = list(self.tokenizer(text, truncation=True, max_length=self.max_length)["input_ids"])
        return ids, full - len(ids)

    # ------------------------------------------------------------------ one example
    def encode(self, example: Example) -> tuple[Feature, int]:
        """(feature, tokens cut by truncation) for one example."""
        if self.architecture == SEQUENCE_CLASSIFICATION:
            assert isinstance(example, ClassificationExample)
            ids, cut = self.encoder_ids(example.text)
            if example.label not in self.label2id:
                raise DataError(
                    f"{where(example) or 'a row'}: label {example.label!r} is not one of the "
                    f"training labels {sorted(self.label2id)}."
                )
            return {"input_ids": ids, "labels": self.label2id[example.label]}, cut
        assert isinstance(example, SFTExample)
        if self.architecture == SEQ2SEQ_LM:
            ids, cut = self.encoder_ids(self.prompt_text(example))
            response = self._response_ids(example)
            labels = response[: self.max_length]
            return {"input_ids": ids, "labels": labels}, cut + len(response) - len(labels)
        if self.architecture != CAUSAL_LM:
            raise BackendError(f"Unknown architecture {self.architecture!r}.")
        if uses_chat_template(example, self.prompt_format):
            full_ids, full_labels = chat.encode_conversation(self.tokenizer, example)
            ids = full_ids[: self.max_length]
            return {"input_ids": ids, "labels": full_labels[: self.max_length]}, len(full_ids) - len(ids)
        prompt = self.prompt_ids(example)
        response = self._response_ids(example)
        ids = (prompt + response)[: self.max_length]
        labels = ([IGNORE_INDEX] * len(prompt) + response)[: self.max_length]
        return {"input_ids": ids, "labels": labels}, len(prompt) + len(response) - len(ids)

    # ------------------------------------------------------------------ a split
    def encode_all(self, examples: Sequence[Example]) -> EncodedSet:
        out = EncodedSet()
        for example in examples:
            feature, cut = self.encode(example)
            out.features.append(feature)
            if cut:
                out.truncated_rows += 1
                out.truncated_tokens += cut
            labels = feature["labels"]
            if isinstance(labels, list) and all(t == IGNORE_INDEX for t in labels):
                out.unsupervised.append(where(example) or f"row {len(out.features)}")
        return out


def require_supervision(split: str, encoded: EncodedSet, max_length: int) -> None:
    """DataError when truncation left rows with no response token to learn from."""
    if not encoded.unsupervised:
        return
    rows = encoded.unsupervised
    listed = rows[:MAX_LISTED_ROWS] + (
        [f"... and {len(rows) - MAX_LISTED_ROWS} more"] if len(rows) > MAX_LISTED_ROWS else []
    )
    raise DataError(
        f"{len(rows)} of {len(encoded.features)} {split} row(s) have no response tokens left after "
        f"truncation to max_seq_length={max_length} (the prompt alone fills it; "
        f"{encoded.truncated_rows} row(s) truncated in all):",
        problems=listed,
        hint="Raise training.max_seq_length, or shorten these rows' instruction/input.",
    )


class Collator:
    """Pads a list of features to the longest one: ids with the pad id, labels with -100."""

    def __init__(self, pad_id: int, side: str = "right") -> None:
        self.pad_id = pad_id
        self.side = side

    def _pad(self, rows: List[List[int]], value: int) -> List[List[int]]:
        width = max(len(r) for r in rows)
        if self.side == "left":
            return [[value] * (width - len(r)) + r for r in rows]
        return [r + [value] * (width - len(r)) for r in rows]

    def __call__(self, features: Sequence[Feature]) -> Dict[str, Any]:
        import torch

        ids = [list(f["input_ids"]) for f in features]
        batch = {
            "input_ids": torch.tensor(self._pad(ids, self.pad_id), dtype=torch.long),
            "attention_mask": torch.tensor(self._pad([[1] * len(r) for r in ids], 0), dtype=torch.long),
        }
        if "labels" in features[0]:
            labels = [f["labels"] for f in features]
            if isinstance(labels[0], list):
                batch["labels"] = torch.tensor(self._pad(labels, IGNORE_INDEX), dtype=torch.long)
            else:
                batch["labels"] = torch.tensor(labels, dtype=torch.long)
        return batch
