"""Trivial baselines: what a model that does nothing useful already scores on a test set.

A metric only means something next to its floor: on a task whose answer is mostly the input (the
demo's letter reversal, token F1 ignores order), copying the input already reaches token F1 1.00,
and on a skewed label set always answering the majority label reaches a high accuracy. Every
evaluation therefore reports these floors beside the model's scores (``eval_results.json``
``trivial_baselines``):

* SFT ``copy_input``: the answer is the row's input copied: the ``input`` field when there is one,
  else the instruction; for a conversation, the last user turn. Scored with exact match and F1.
* classification ``majority_class``: every row gets the most frequent training label (the test
  set's when the training counts are unknown, as for a run trained before they were recorded).
  Scored with accuracy and macro F1.
"""

from __future__ import annotations

from collections import Counter
from typing import Any, Dict, Mapping, Optional, Sequence

from verifily_core.domain import label_metrics as lm
from verifily_core.domain import metrics as m
from verifily_core.domain.examples import ClassificationExample, Example, SFTExample


def copied_input(example: SFTExample) -> str:
    """The text a do-nothing model would answer with: the row's input, as the docstring says."""
    if example.messages:
        users = [content for role, content in example.messages if role == "user"]
        return users[-1] if users else ""
    return example.input if example.input.strip() else example.instruction


def trivial_baselines(
    task: str, examples: Sequence[Example], train_label_counts: Optional[Mapping[str, int]] = None
) -> Dict[str, Dict[str, Any]]:
    """``{"copy_input": {...}}`` (sft) or ``{"majority_class": {...}}`` (classification); {} if empty."""
    if not examples:
        return {}
    if task == "classification":
        refs = [e.label for e in examples if isinstance(e, ClassificationExample)]
        counts = Counter(train_label_counts or {}) or Counter(refs)
        majority = min(counts, key=lambda label: (-counts[label], label))  # ties: first by name
        guesses = [majority] * len(refs)
        return {
            "majority_class": {
                "label": majority,
                "accuracy": lm.accuracy(refs, guesses),
                "macro_f1": lm.macro_f1(refs, guesses),
            }
        }
    sft = [e for e in examples if isinstance(e, SFTExample)]
    copies = [copied_input(e) for e in sft]
    return {
        "copy_input": {
            "exact_match": sum(m.exact_match(c, e.output) for c, e in zip(copies, sft)) / len(sft),
            "f1": sum(m.token_f1(c, e.output) for c, e in zip(copies, sft)) / len(sft),
        }
    }


__all__ = ["copied_input", "trivial_baselines"]
