"""The SFT prompt formats, in one place, so that training, evaluation and the docs agree.

An Alpaca-style layout is used because it is the one most instruction-tuned checkpoints and most
users' existing data already follow; the response starts on its own line after ``### Response:``.
For causal LMs the training text is ``prompt + output + EOS`` and only the output tokens carry
loss; for seq2seq models the prompt is the encoder input and the output is the target.

Conversations (``messages`` rows), and instruction rows when ``training.prompt_format:
chat_template``, are rendered by the model's own chat template instead (the backend applies it): a
model that was instruction-tuned answers best in the format it was tuned on.
"""

from __future__ import annotations

from typing import Dict, List

from verifily_core.domain.examples import SFTExample

INSTRUCTION_HEADER = "### Instruction:\n"
INPUT_HEADER = "### Input:\n"
RESPONSE_HEADER = "### Response:\n"
PROMPT_FORMAT_NAME = "alpaca-v1"
ALPACA, CHAT_TEMPLATE = "alpaca", "chat_template"
PROMPT_FORMATS = (ALPACA, CHAT_TEMPLATE)
ASSISTANT = "assistant"


def build_prompt(instruction: str, input_text: str = "") -> str:
    """The text a model sees before its response (ends right where the response begins)."""
    parts = [INSTRUCTION_HEADER + instruction.strip() + "\n\n"]
    if input_text.strip():
        parts.append(INPUT_HEADER + input_text.strip() + "\n\n")
    parts.append(RESPONSE_HEADER)
    return "".join(parts)


def prompt_of(example: SFTExample) -> str:
    return build_prompt(example.instruction, example.input)


def conversation_of(example: SFTExample) -> List[Dict[str, str]]:
    """The example as chat messages: its own conversation, or an instruction row as one user turn
    (instruction, a blank line, then the input) and one assistant turn (the output)."""
    if example.messages:
        return [{"role": role, "content": content} for role, content in example.messages]
    user = f"{example.instruction}\n\n{example.input}" if example.input.strip() else example.instruction
    return [{"role": "user", "content": user}, {"role": ASSISTANT, "content": example.output}]


def uses_chat_template(example: SFTExample, prompt_format: str) -> bool:
    """Conversations always go through the model's chat template; instruction rows when asked."""
    return bool(example.messages) or prompt_format == CHAT_TEMPLATE
