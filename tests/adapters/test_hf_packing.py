"""Packing and token-budget batches: attention stays inside a row, the loss is the unpacked one,
training stays deterministic, and the batch figures are reported (docs/training.md)."""

from __future__ import annotations

import hashlib
import random
from pathlib import Path
from typing import Any, Dict, List, Optional, Sequence

import pytest
from helpers import hf

from verifily_adapters.hf_backend.batching import (
    MASKED_PACKING_MAX_TOKENS,
    Collate,
    best_fit_bins,
    length_groups,
    pack,
    plan_batches,
)
from verifily_adapters.hf_backend.loading import CAUSAL_LM, SEQ2SEQ_LM
from verifily_core.errors import ConfigError


def _skewed(n: int, seed: int) -> List[int]:
    rng = random.Random(seed)
    return [rng.randint(20, 60) if rng.random() < 0.8 else rng.randint(300, 500) for _ in range(n)]


@pytest.mark.parametrize("grouping", [best_fit_bins, length_groups])
def test_groupings_cover_every_row_once_within_budget(grouping: Any) -> None:
    lengths = _skewed(500, 1) + [700]  # one row over the budget travels alone
    groups = grouping(lengths, 600)
    assert sorted(i for g in groups for i in g) == list(range(len(lengths)))
    for g in groups:
        longest = max(lengths[i] for i in g)
        cost = sum(lengths[i] for i in g) if grouping is best_fit_bins else len(g) * longest
        assert cost <= 600 or g == [500]
    assert groups == grouping(list(lengths), 600)  # depends on the lengths only


def test_best_fit_bins_are_nearly_full() -> None:
    lengths = _skewed(1000, 2)
    bins = best_fit_bins(lengths, 900)
    assert len(bins) <= 1.02 * sum(lengths) / 900 + 1


def test_packing_is_for_causal_models_only() -> None:
    features = [{"input_ids": [1, 2, 3], "labels": [4, 5]}]
    with pytest.raises(ConfigError) as err:
        plan_batches(
            features,
            architecture=SEQ2SEQ_LM,
            packing=True,
            batch_size=2,
            max_tokens_per_batch=None,
            pad_id=0,
        )
    assert err.value.key == "training.packing"
    auto = plan_batches(
        features,
        architecture=SEQ2SEQ_LM,
        packing="auto",
        batch_size=2,
        max_tokens_per_batch=None,
        pad_id=0,
    )
    assert auto.mode == "length_grouped" and auto.per_device_batch_size == 1  # grouped micro-batches
    causal = plan_batches(
        features,
        architecture=CAUSAL_LM,
        packing="auto",
        batch_size=2,
        max_tokens_per_batch=None,
        pad_id=0,
    )
    # auto packs causal SFT on every device: the batches of plain random batching, no padding
    assert causal.mode == "packed" and causal.per_device_batch_size == 2


def test_auto_groups_by_length_when_masked_attention_would_cover_too_many_tokens() -> None:
    """Without a varlen kernel a packed micro-batch costs the square of its length: past the limit,
    auto falls back to length grouping; FlashAttention 2 or a token budget under the limit packs."""
    long_rows = [{"input_ids": [1] * 600, "labels": [1] * 600} for _ in range(40)]
    batch = MASKED_PACKING_MAX_TOKENS // 600 + 1  # the longest rows of one batch exceed the limit

    def mode(varlen: bool, budget: Optional[int] = None) -> str:
        return plan_batches(
            long_rows,
            architecture=CAUSAL_LM,
            packing="auto",
            batch_size=batch,
            max_tokens_per_batch=budget,
            pad_id=0,
            varlen_attention=varlen,
        ).mode

    assert mode(varlen=False) == "length_grouped"
    assert mode(varlen=True) == "packed"
    assert mode(varlen=False, budget=4096) == "packed"
    assert (
        plan_batches(  # packing: true is obeyed whatever it costs
            long_rows,
            architecture=CAUSAL_LM,
            packing=True,
            batch_size=batch,
            max_tokens_per_batch=None,
            pad_id=0,
        ).mode
        == "packed"
    )


@pytest.fixture(scope="module")
def llama(tiny_causal: Path) -> Any:
    from transformers import AutoModelForCausalLM

    model = AutoModelForCausalLM.from_pretrained(tiny_causal).eval()
    model.config.use_cache = False  # what the Trainer sets from TrainingArguments.use_cache
    return model


def _features(tiny_causal: Path, n: int) -> List[Dict[str, Any]]:
    from transformers import AutoTokenizer

    from verifily_adapters.hf_backend.tensors import Encoder

    encoder = Encoder(AutoTokenizer.from_pretrained(tiny_causal), CAUSAL_LM, 128)
    rows = hf.reverse_rows(n, 5)
    for i, row in enumerate(rows[::3]):  # vary the lengths
        rows[3 * i] = type(row)(**{**row.__dict__, "input": " ".join([row.input] * (1 + i % 4))})
    return encoder.encode_all(rows).features


def test_packed_rows_see_only_themselves(llama: Any) -> None:
    import torch

    a = {"input_ids": [1, 17, 42, 99, 7, 3, 12], "labels": [-100, -100, 42, 99, 7, 3, 12]}
    b = {"input_ids": [1, 5, 8, 250, 31, 30, 6, 9, 77, 2, 4], "labels": [-100] * 5 + [30, 6, 9, 77, 2, 4]}
    packed = pack([a, b])
    assert packed["position_ids"].tolist() == [list(range(7)) + list(range(11))]
    assert packed["labels"][0, 7].item() == -100  # B's first label is never a target
    with torch.no_grad():
        together = llama(input_ids=packed["input_ids"], position_ids=packed["position_ids"]).logits[0]
        alone_a = llama(input_ids=torch.tensor([a["input_ids"]])).logits[0]
        alone_b = llama(input_ids=torch.tensor([b["input_ids"]])).logits[0]
        # with a KV cache transformers does not look for packed rows: B would attend to A
        cached = llama(input_ids=packed["input_ids"], position_ids=packed["position_ids"], use_cache=True)
    assert torch.allclose(together[:7], alone_a, atol=1e-5)
    assert torch.allclose(together[7:], alone_b, atol=1e-5)
    assert not torch.allclose(cached.logits[0, 7:], alone_b, atol=1e-3)


def _summed(llama: Any, batches: Sequence[Dict[str, Any]]) -> tuple[float, int]:
    """Summed supervised loss and the supervised-token count, both as the Trainer computes them."""
    import torch

    total, count = 0.0, 0
    with torch.no_grad():
        for batch in batches:
            total += llama(**batch, num_items_in_batch=1).loss.item()  # sum, not mean
            count += int(batch["labels"][..., 1:].ne(-100).sum())
    return total, count


@pytest.mark.parametrize("budget", [None, 160])
def test_packed_epoch_has_the_unpacked_summed_loss(llama: Any, tiny_causal: Path, budget: Any) -> None:
    features = _features(tiny_causal, 24)
    padded = Collate(0, packed=False)
    unpacked = [padded(features[i : i + 8]) for i in range(0, len(features), 8)]
    plan = plan_batches(
        features,
        architecture=CAUSAL_LM,
        packing=True,
        batch_size=8,
        max_tokens_per_batch=budget,
        pad_id=0,
    )
    step = plan.per_device_batch_size
    units = [plan.train_dataset[i : i + step] for i in range(0, len(plan.train_dataset), step)]
    packed = [plan.collator(u) for u in units]
    assert all(b["input_ids"].shape[0] == 1 and "attention_mask" not in b for b in packed)
    loss_u, count_u = _summed(llama, unpacked)
    loss_p, count_p = _summed(llama, packed)
    assert count_p == count_u > 0
    assert loss_p == pytest.approx(loss_u, rel=1e-5)
    if budget:
        assert all(b["input_ids"].shape[1] <= budget for b in packed) and len(packed) > 1


def _sha(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


@pytest.mark.slow
@pytest.mark.timeout(600)
def test_packed_training_is_deterministic_and_reports_batches(tiny_causal: Path, tmp_path: Path) -> None:
    from transformers import AutoTokenizer

    from verifily_adapters.hf_backend.tensors import Encoder

    config = hf.sft_config(
        tiny_causal,
        training={"packing": True, "max_tokens_per_batch": 96, "max_seq_length": 40, "num_epochs": 2},
    )
    rows = hf.reverse_rows(32, 9)
    rows[0] = type(rows[0])(**{**rows[0].__dict__, "output": "a b c d e f g h a b c d e f"})  # cut at 40
    first = hf.train(config, tmp_path / "a", rows)
    second = hf.train(config, tmp_path / "b", rows)
    assert _sha(tmp_path / "a/adapter/adapter_model.safetensors") == _sha(
        tmp_path / "b/adapter/adapter_model.safetensors"
    )
    losses = [[e.get("loss"), e.get("grad_norm")] for e in first.log_history]
    assert losses == [[e.get("loss"), e.get("grad_norm")] for e in second.log_history]
    encoded = Encoder(AutoTokenizer.from_pretrained(tiny_causal), CAUSAL_LM, 40).encode_all(rows)
    assert (first.truncated_rows, first.truncated_tokens) == (1, encoded.truncated_tokens)
    assert first.truncated_tokens > 0
    assert first.tokens_processed == 2 * sum(len(f["input_ids"]) for f in encoded.features)
    assert first.extra["batching"] == "packed" and first.extra["max_tokens_per_batch"] == 96
    assert first.extra["attention"] == "sdpa"  # transformers' default, which detects packed rows
    bins = len(best_fit_bins([len(f["input_ids"]) for f in encoded.features], 96))
    assert first.global_step == 2 * bins
    assert first.extra["effective_batch_size"] == pytest.approx(32 / bins, abs=1e-3)
