"""The SFT prompt format, in one place, so that training, evaluation and the docs agree.

An Alpaca-style layout is used because it is the one most instruction-tuned checkpoints and most
users' existing data already follow; the response starts on its own line after ``### Response:``.
For causal LMs the training text is ``prompt + output + EOS`` and only the output tokens carry
loss; for seq2seq models the prompt is the encoder input and the output is the target.
"""

from __future__ import annotations

from verifily_core.domain.examples import SFTExample

INSTRUCTION_HEADER = "### Instruction:\n"
INPUT_HEADER = "### Input:\n"
RESPONSE_HEADER = "### Response:\n"
PROMPT_FORMAT_NAME = "alpaca-v1"


def build_prompt(instruction: str, input_text: str = "") -> str:
    """The text a model sees before its response (ends right where the response begins)."""
    parts = [INSTRUCTION_HEADER + instruction.strip() + "\n\n"]
    if input_text.strip():
        parts.append(INPUT_HEADER + input_text.strip() + "\n\n")
    parts.append(RESPONSE_HEADER)
    return "".join(parts)


def prompt_of(example: SFTExample) -> str:
    return build_prompt(example.instruction, example.input)
