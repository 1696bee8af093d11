"""How encoded rows become micro-batches: padding-free packing, length grouping, token budgets.

Why this exists: on length-skewed SFT data a batch padded to its longest row computes several
times the real tokens. Two remedies, both working on the ``input_ids``/``labels`` (-100 = not
supervised) features that :class:`~verifily_adapters.hf_backend.tensors.Encoder` produces, whatever
the row format (instruction rows, chat rows with assistant-only labels):

* **Packing** (causal LMs only): the rows of a micro-batch are concatenated into one sequence with
  ``position_ids`` restarting at 0 for every row and no ``attention_mask``. Transformers 5 detects
  packed sequences from those position ids (``masking_utils.find_packed_sequence_indices``; only when
  no KV cache is in use, and ``TrainingArguments.use_cache`` is False) and builds a block-diagonal
  causal mask for SDPA/eager, or runs varlen kernels with FlashAttention 2, so attention never
  crosses a row boundary. The first label of every row but the first is set to -100: in an unpacked
  batch a row's first label is never a target (labels shift by one), and in a packed one it would
  become the target of the previous row's last token. With that, the Trainer's count of supervised
  tokens (``labels[..., 1:] != -100``, summed over the accumulation window) and the summed loss are
  the ones unpacked training computes, so the loss is the same mean over supervised tokens.
* **Length grouping**: without packing, rows of similar length are batched together, so padding
  stays small: the rows are shuffled with the run's seed, cut into chunks of 50 batches, sorted by
  length inside each chunk and cut into batches of ``batch_size`` rows (the scheme of the Trainer's
  ``group_by_length`` sampler, whose unseeded shuffle would not survive a resume).

``training.max_tokens_per_batch`` replaces "``batch_size`` rows per micro-batch" by a token budget:
packed bins filled best-fit decreasing (like TRL's ``bfd`` and Axolotl's multipack), or
length-sorted padded batches whose padded size stays under the budget (memory stays flat).
Grouped or budgeted micro-batches are formed once per run (deterministic given the seed) and the
Trainer's seeded sampler shuffles their order every epoch, which also makes a resumed run see the
batches the uninterrupted one saw.
"""

from __future__ import annotations

import bisect
import heapq
import random
from dataclasses import dataclass
from typing import Any, Dict, List, Optional, Sequence, Tuple, Union

from verifily_adapters.hf_backend.loading import CAUSAL_LM
from verifily_adapters.hf_backend.tensors import IGNORE_INDEX, Collator, Feature
from verifily_core.errors import ConfigError

PACKED, LENGTH_GROUPED = "packed", "length_grouped"

# Without a varlen attention kernel, attention over a packed micro-batch covers the square of its
# total length (SDPA or eager with a block-diagonal mask). In bench/bench_peers.py on CPU, micro-batches
# of up to ~15k tokens (32 rows, the longest together) stayed within 14% of length grouping's speed;
# at ~24k (64 rows) packing ran at 0.58x. Past this many tokens, ``auto`` groups by length instead.
MASKED_PACKING_MAX_TOKENS = 16_384


def auto_packs(varlen_attention: bool, micro_batch_tokens: int) -> bool:
    """What ``training.packing: auto`` means for a causal LM: pack (the batches of plain random
    batching, hence its loss; length grouping trains to a worse held-out loss, docs/training.md) unless
    the attention has no varlen kernel and a micro-batch may hold more than
    :data:`MASKED_PACKING_MAX_TOKENS` tokens."""
    return varlen_attention or micro_batch_tokens <= MASKED_PACKING_MAX_TOKENS


class TrainRow(dict):  # type: ignore[type-arg]
    """A training feature. Only these are packed: the Trainer hands the one collator its evaluation
    rows too (plain dicts), and those stay padded so that ``eval_loss`` is computed as before."""


class MicroBatch(dict):  # type: ignore[type-arg]
    """The rows of one micro-batch formed ahead (length-grouped or token budget), one dataset item."""


@dataclass
class BatchPlan:
    """What the Trainer is given (its train dataset, collator and batch size) and the batch figures."""

    mode: str  # PACKED or LENGTH_GROUPED
    train_dataset: List[Dict[str, Any]]
    collator: Collate
    per_device_batch_size: int  # TrainingArguments.per_device_train_batch_size
    rows_per_micro_batch: float  # mean over the run's micro-batches
    max_tokens_per_batch: Optional[int]


def plan_batches(
    features: Sequence[Feature],
    *,
    architecture: str,
    packing: Union[str, bool],
    batch_size: int,
    max_tokens_per_batch: Optional[int],
    pad_id: int,
    varlen_attention: bool = False,
    seed: int = 0,
) -> BatchPlan:
    """The batching of the training rows per ``training.packing`` and ``training.max_tokens_per_batch``."""
    if packing is True and architecture != CAUSAL_LM:
        raise ConfigError(
            f"training.packing applies to causal language models; this model is {architecture}.",
            key="training.packing",
            hint="Use training.packing: auto (or false) and training.max_tokens_per_batch for token budgets.",
        )
    lengths = [len(f["input_ids"]) for f in features]
    # the most tokens one micro-batch can hold: its budget, or the batch_size longest rows together
    micro_batch_tokens = max_tokens_per_batch or sum(heapq.nlargest(batch_size, lengths))
    packed = architecture == CAUSAL_LM and (
        packing is True or (packing == "auto" and auto_packs(varlen_attention, micro_batch_tokens))
    )
    collator = Collate(pad_id, packed=packed)
    mode = PACKED if packed else LENGTH_GROUPED
    if packed and max_tokens_per_batch is None:
        # the Trainer samples batches of rows as it would unpacked; the collator packs each one
        return BatchPlan(
            mode=mode,
            train_dataset=[TrainRow(f) for f in features],
            collator=collator,
            per_device_batch_size=batch_size,
            rows_per_micro_batch=float(min(batch_size, len(features))),
            max_tokens_per_batch=None,
        )
    if max_tokens_per_batch is None:
        groups = sorted_chunks(lengths, batch_size, seed)
    else:
        groups = (best_fit_bins if packed else length_groups)(lengths, max_tokens_per_batch)
    return BatchPlan(
        mode=mode,
        train_dataset=[MicroBatch(rows=[features[i] for i in g]) for g in groups],
        collator=collator,
        per_device_batch_size=1,
        rows_per_micro_batch=len(features) / len(groups),
        max_tokens_per_batch=max_tokens_per_batch,
    )


def best_fit_bins(lengths: Sequence[int], budget: int) -> List[List[int]]:
    """Row indices in bins of at most ``budget`` tokens, best-fit decreasing (a longer row is alone).

    Rows are placed longest first, each into the fullest bin it still fits; the result depends on the
    lengths only (ties by row index), so two runs pack identically.
    """
    bins: List[List[int]] = []
    open_bins: List[Tuple[int, int]] = []  # (room left, bin index), sorted: the best fit is a bisect away
    for i in sorted(range(len(lengths)), key=lambda i: (-lengths[i], i)):
        at = bisect.bisect_left(open_bins, (lengths[i], -1))
        if at < len(open_bins):
            room, b = open_bins.pop(at)
            bins[b].append(i)
        else:
            room, b = budget, len(bins)
            bins.append([i])
        if room - lengths[i] > 0:
            bisect.insort(open_bins, (room - lengths[i], b))
    return bins


def sorted_chunks(lengths: Sequence[int], size: int, seed: int, chunk_batches: int = 50) -> List[List[int]]:
    """Row indices in batches of ``size`` rows of similar length: shuffled with ``seed``, sorted by
    length within chunks of ``chunk_batches`` batches (randomness kept across chunks)."""
    order = list(range(len(lengths)))
    random.Random(seed).shuffle(order)
    chunk = size * chunk_batches
    groups: List[List[int]] = []
    for start in range(0, len(order), chunk):
        part = sorted(order[start : start + chunk], key=lambda i: (-lengths[i], i))
        groups += [part[k : k + size] for k in range(0, len(part), size)]
    return groups


def length_groups(lengths: Sequence[int], budget: int) -> List[List[int]]:
    """Row indices sorted by length and cut into batches whose padded size (rows × longest) fits
    ``budget`` (a row longer than the budget is alone)."""
    groups: List[List[int]] = []
    for i in sorted(range(len(lengths)), key=lambda i: (-lengths[i], i)):
        if groups and (len(groups[-1]) + 1) * lengths[groups[-1][0]] <= budget:
            groups[-1].append(i)
        else:
            groups.append([i])
    return groups


class Collate:
    """The Trainer's one collator: token-budget micro-batches are unwrapped, training rows packed
    when ``packed``, everything else padded by :class:`Collator`."""

    def __init__(self, pad_id: int, *, packed: bool) -> None:
        self.pad = Collator(pad_id)
        self.packed = packed

    def __call__(self, features: Sequence[Dict[str, Any]]) -> Dict[str, Any]:
        if features and isinstance(features[0], MicroBatch):
            features = [row for unit in features for row in unit["rows"]]
            return pack(features) if self.packed else self.pad(features)
        if self.packed and features and isinstance(features[0], TrainRow):
            return pack(features)
        return self.pad(features)


def pack(features: Sequence[Feature]) -> Dict[str, Any]:
    """One sequence of every row: ``input_ids``, ``labels`` and per-row ``position_ids``, shape (1, N)."""
    import torch

    ids: List[int] = []
    labels: List[int] = []
    positions: List[int] = []
    for n, f in enumerate(features):
        row_labels = list(f["labels"])
        if n and row_labels:
            row_labels[0] = IGNORE_INDEX  # see the module docstring: never a target unpacked either
        ids += f["input_ids"]
        labels += row_labels
        positions += range(len(f["input_ids"]))
    return {
        "input_ids": torch.tensor([ids], dtype=torch.long),
        "labels": torch.tensor([labels], dtype=torch.long),
        "position_ids": torch.tensor([positions], dtype=torch.long),
    }
