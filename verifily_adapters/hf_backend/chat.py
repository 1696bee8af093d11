"""Conversations through the tokenizer's own chat template, with the loss on assistant turns only.

An instruction-tuned model answers best in the exact format it was tuned on, and that format lives
in its tokenizer (``chat_template``), so the template renders every conversation; nothing here
knows a model's special tokens. What the loss covers is found without assuming anything about the
template either: for each assistant turn ``i`` the template renders the conversation before it with
the generation prompt, and the conversation up to and including it; the text between the two is
that turn as the model must write it (its content and end-of-turn marker; trailing whitespace the
template adds after the marker is left out). The whole conversation is tokenized once, and a token
is supervised when it starts inside one of those spans: the labels are exact for any template that
renders a conversation as a prefix of its continuation, which is checked (a template that does
not is refused rather than trained on wrong labels).

At evaluation the prompt is the conversation before its last assistant turn, rendered with the
generation prompt: token for token the prefix the model saw before that turn in training.
"""

from __future__ import annotations

from typing import Any, Dict, List, Sequence, Tuple

from verifily_core.domain.examples import SFTExample, where
from verifily_core.domain.prompts import ASSISTANT, conversation_of
from verifily_core.errors import BackendError, DataError

Messages = Sequence[Dict[str, str]]
IGNORE_INDEX = -100  # a label with no loss (PyTorch's cross-entropy default; tensors shares it)


def require_template(tokenizer: Any, example: SFTExample) -> None:
    """DataError naming the row when the model has no chat template to render it with."""
    if not getattr(tokenizer, "chat_template", None):
        what = "a conversation (messages)" if example.messages else "an instruction row"
        raise DataError(
            f"{where(example) or 'a row'}: messages: the row is {what} to be rendered with the model's "
            "chat template, but the model's tokenizer has none (no chat_template).",
            hint="Use an instruction-tuned model whose tokenizer has a chat template, or write the rows "
            "as instruction/output (training.prompt_format: alpaca).",
        )


def render(tokenizer: Any, messages: Messages, *, generation_prompt: bool) -> str:
    """The template's text for ``messages`` (no tokenization; special tokens appear as text)."""
    try:
        return str(
            tokenizer.apply_chat_template(
                list(messages), tokenize=False, add_generation_prompt=generation_prompt
            )
        )
    except Exception as exc:  # noqa: BLE001 - jinja errors (a template refusing a role order) etc.
        raise BackendError(
            f"The model's chat template could not render a conversation: {type(exc).__name__}: {exc}",
            hint="Check the order of roles the model's template accepts (some refuse a system turn).",
        ) from exc


def generation_prompt(tokenizer: Any, example: SFTExample) -> str:
    """The conversation before its last assistant turn, ending where the model starts to answer."""
    require_template(tokenizer, example)
    return render(tokenizer, conversation_of(example)[:-1], generation_prompt=True)


def assistant_spans(tokenizer: Any, messages: Messages) -> Tuple[str, List[Tuple[int, int]]]:
    """(full text, character spans of every assistant turn in it)."""
    full = render(tokenizer, messages, generation_prompt=False)
    spans: List[Tuple[int, int]] = []
    for i, message in enumerate(messages):
        if message["role"] != ASSISTANT:
            continue
        before = render(tokenizer, messages[:i], generation_prompt=True)
        upto = render(tokenizer, messages[: i + 1], generation_prompt=False)
        if not (upto.startswith(before) and full.startswith(upto)):
            raise BackendError(
                "The model's chat template does not render a conversation as the prefix of its "
                "continuation, so the assistant turns cannot be located exactly for the loss.",
                hint="Use training.prompt_format: alpaca with instruction/output rows for this model.",
            )
        turn = upto[len(before) :]
        spans.append((len(before), len(before) + len(turn.rstrip())))
    return full, spans


def encode_conversation(tokenizer: Any, example: SFTExample) -> Tuple[List[int], List[int]]:
    """(input ids, labels): labels copy the ids on assistant turns and are -100 elsewhere."""
    require_template(tokenizer, example)
    full, spans = assistant_spans(tokenizer, conversation_of(example))
    # the template writes its own special tokens (BOS included) as text: add none on top
    encoded = tokenizer(full, add_special_tokens=False, return_offsets_mapping=True)
    ids = list(encoded["input_ids"])
    labels = [
        token if any(start <= begin < end for start, end in spans) else IGNORE_INDEX
        for token, (begin, _) in zip(ids, encoded["offset_mapping"])
    ]
    return ids, labels
