"""Real training with the hf backend on CPU, on tiny local models (seconds each)."""

from __future__ import annotations

import hashlib
import math
from pathlib import Path
from typing import Any

import pytest
from helpers import hf

from verifily_core.domain.prompts import prompt_of
from verifily_core.errors import DataError

pytestmark = pytest.mark.slow


def _sha(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def test_causal_sft_learns_and_reports(trained_causal: Any) -> None:
    run, outcome = trained_causal, trained_causal.outcome
    assert outcome.architecture == "causal_lm"
    assert outcome.global_step == 200 and outcome.epochs == pytest.approx(25)
    assert outcome.train_loss is not None and math.isfinite(outcome.train_loss)
    assert outcome.eval_loss is not None and outcome.eval_loss < 1.0
    first_loss = next(e["loss"] for e in outcome.log_history if "loss" in e)
    last_loss = [e["loss"] for e in outcome.log_history if "loss" in e][-1]
    assert last_loss < first_loss / 5
    assert outcome.tokens_processed > 0 and outcome.train_rows == 64
    assert outcome.truncated_rows == 0 and outcome.truncated_tokens == 0
    assert outcome.device == "cpu" and outcome.world_size == 1 and outcome.global_batch_size == 8
    assert 0 < outcome.trainable_parameters < outcome.total_parameters
    assert outcome.extra["mfu"] > 0
    for name in (
        "adapter/adapter_config.json",
        "adapter/adapter_model.safetensors",
        "tokenizer/tokenizer_config.json",
    ):
        assert (run.run_dir / name).is_file(), name
    assert not (run.run_dir / "model").exists()
    assert (run.run_dir / "checkpoints").is_dir()
    # callbacks: started with the planned steps, every step reported, logs forwarded with the final step
    assert run.recorder.starts == [200]
    assert [s for s, _ in run.recorder.steps] == list(range(1, 201))
    assert run.recorder.logs[-1][0] == 200 and any("eval_loss" in m for _, m in run.recorder.logs)

    from verifily_adapters.hf_backend.backend import HFModelBackend

    predictor = HFModelBackend().load(run.run_dir, run.info)
    predictions = predictor.generate(run.test_rows, max_new_tokens=12, num_beams=1, batch_size=8)
    exact = sum(p == e.output for p, e in zip(predictions, run.test_rows)) / len(run.test_rows)
    assert exact >= 0.5, list(zip(predictions, [e.output for e in run.test_rows]))


def test_train_loss_is_the_whole_run_mean(trained_causal: Any) -> None:
    """The step-weighted mean of the logged losses equals the Trainer's own average for one session."""
    final = next(e for e in trained_causal.outcome.log_history if "train_loss" in e)
    assert trained_causal.outcome.train_loss == pytest.approx(final["train_loss"], rel=1e-9)


def test_same_config_and_seed_give_byte_identical_adapters(tiny_causal: Path, tmp_path: Path) -> None:
    config = hf.sft_config(tiny_causal, training={"num_epochs": 1}, lora={"dropout": 0.1})
    rows = hf.reverse_rows(40, 5)
    a = hf.train(config, tmp_path / "a", rows)
    b = hf.train(config, tmp_path / "b", rows)
    assert a.train_loss == b.train_loss
    assert _sha(tmp_path / "a/adapter/adapter_model.safetensors") == _sha(
        tmp_path / "b/adapter/adapter_model.safetensors"
    )
    other = hf.train(config.apply_overrides({"seed": 8}), tmp_path / "c", rows)
    assert _sha(tmp_path / "c/adapter/adapter_model.safetensors") != _sha(
        tmp_path / "a/adapter/adapter_model.safetensors"
    )
    assert other.train_loss != a.train_loss


def test_resume_from_checkpoint_matches_uninterrupted(tiny_causal: Path, tmp_path: Path) -> None:
    config = hf.sft_config(
        tiny_causal, training={"num_epochs": 3, "save_steps": 4, "logging_steps": 3, "save_total_limit": 1}
    )
    rows = hf.reverse_rows(40, 6)
    full = hf.train(config, tmp_path / "full", rows)

    class Stop(KeyboardInterrupt):
        pass

    def stop_after_checkpoint(step: int, total: int) -> None:
        if step == 9:  # checkpoint-8 is on disk; steps 9.. must be redone
            raise Stop()

    recorder = hf.Recorder()
    callbacks = recorder.callbacks()
    callbacks.on_step = stop_after_checkpoint
    with pytest.raises(Stop):
        hf.train(config, tmp_path / "cut", rows, callbacks=callbacks)
    checkpoints = sorted((tmp_path / "cut/checkpoints").glob("checkpoint-*"))
    assert [c.name for c in checkpoints] == ["checkpoint-8"]  # save_total_limit 1 honoured
    resumed = hf.train(config, tmp_path / "cut", rows, resume_from=checkpoints[-1])
    assert resumed.global_step == full.global_step == 15
    assert resumed.train_loss == pytest.approx(full.train_loss, abs=1e-6)
    assert resumed.tokens_processed == full.tokens_processed
    assert _sha(tmp_path / "cut/adapter/adapter_model.safetensors") == _sha(
        tmp_path / "full/adapter/adapter_model.safetensors"
    )


def test_truncation_is_counted(tiny_causal: Path, tmp_path: Path) -> None:
    from transformers import AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(tiny_causal)
    rows = hf.reverse_rows(16, 9)
    lengths = [
        len(tokenizer(prompt_of(e))["input_ids"])
        + len(tokenizer(e.output, add_special_tokens=False)["input_ids"])
        + 1
        for e in rows
    ]
    limit = sorted(lengths)[len(lengths) // 2]
    assert limit > max(
        len(tokenizer(prompt_of(e))["input_ids"]) for e in rows
    )  # every row keeps some response
    outcome = hf.train(
        hf.sft_config(tiny_causal, training={"max_seq_length": limit, "num_epochs": 0.5}),
        tmp_path / "run",
        rows,
    )
    assert outcome.truncated_rows == sum(n > limit for n in lengths) > 0
    assert outcome.truncated_tokens == sum(max(n - limit, 0) for n in lengths)


def test_rows_truncated_to_nothing_are_a_data_error(tiny_causal: Path, tmp_path: Path) -> None:
    rows = hf.reverse_rows(25, 10, "data/train.jsonl")
    with pytest.raises(DataError, match="max_seq_length=8") as err:
        hf.train(hf.sft_config(tiny_causal, training={"max_seq_length": 8}), tmp_path / "run", rows)
    assert err.value.problems[:2] == ["data/train.jsonl:1", "data/train.jsonl:2"]
    assert len(err.value.problems) == 21 and "5 more" in err.value.problems[-1]
    assert "training.max_seq_length" in (err.value.hint or "")


def test_bf16_on_cpu_falls_back_with_a_warning(tiny_causal: Path, tmp_path: Path) -> None:
    config = hf.sft_config(
        tiny_causal, compute={"device": "cpu", "bf16": True, "fp16": False}, training={"num_epochs": 0.25}
    )
    outcome = hf.train(config, tmp_path / "run", hf.reverse_rows(16, 11))
    assert outcome.global_step > 0
    assert any("bf16" in w and "fp32" in w for w in outcome.warnings)
    assert outcome.extra["precision"] == "fp32"


def test_full_finetuning_saves_a_model(tiny_causal: Path, tmp_path: Path) -> None:
    from transformers import AutoModelForCausalLM

    config = hf.sft_config(
        tiny_causal, lora={"enabled": False}, training={"num_epochs": 1, "learning_rate": 1e-3}
    )
    outcome = hf.train(config, tmp_path / "run", hf.reverse_rows(24, 12))
    assert outcome.trainable_parameters == outcome.total_parameters
    assert not (tmp_path / "run/adapter").exists()
    model = AutoModelForCausalLM.from_pretrained(tmp_path / "run/model")
    base = AutoModelForCausalLM.from_pretrained(tiny_causal)
    changed = [
        n for (n, p), (_, q) in zip(model.named_parameters(), base.named_parameters()) if not p.equal(q)
    ]
    assert changed

    from verifily_adapters.hf_backend.backend import HFModelBackend

    predictor = HFModelBackend().load(tmp_path / "run", hf.info_for(config, outcome))
    assert len(predictor.generate(hf.reverse_rows(3, 13), max_new_tokens=4, num_beams=1, batch_size=2)) == 3


def test_merged_model_saved_when_not_adapter_only(tiny_causal: Path, tmp_path: Path) -> None:
    import torch
    from peft import PeftModel
    from transformers import AutoModelForCausalLM

    config = hf.sft_config(tiny_causal, output={"save_adapter_only": False}, training={"num_epochs": 0.5})
    hf.train(config, tmp_path / "run", hf.reverse_rows(16, 14))
    merged = AutoModelForCausalLM.from_pretrained(tmp_path / "run/model")
    peft = PeftModel.from_pretrained(
        AutoModelForCausalLM.from_pretrained(tiny_causal), tmp_path / "run/adapter"
    )
    ids = torch.tensor([[5, 17, 42, 99, 7]])
    with torch.no_grad():
        assert torch.allclose(merged(ids).logits, peft(ids).logits, atol=1e-4)


def test_qlora_4bit_trains_on_cpu(tiny_causal: Path, tmp_path: Path) -> None:
    config = hf.sft_config(
        tiny_causal,
        lora={"quantization": "4bit", "bnb_4bit_compute_dtype": "float32"},
        training={"num_epochs": 1},
    )
    outcome = hf.train(config, tmp_path / "run", hf.reverse_rows(24, 15))
    losses = [e["loss"] for e in outcome.log_history if "loss" in e]
    assert outcome.global_step == 3 and all(math.isfinite(x) for x in losses)
    assert (tmp_path / "run/adapter/adapter_model.safetensors").is_file()

    from verifily_adapters.hf_backend.backend import HFModelBackend

    predictor = HFModelBackend().load(tmp_path / "run", hf.info_for(config, outcome))
    losses_ref = predictor.reference_loss(hf.reverse_rows(2, 16), batch_size=2)
    assert all(math.isfinite(t.nll_sum) and t.num_tokens > 0 for t in losses_ref)


def test_seq2seq_trains_and_reloads(tiny_seq2seq: Path, tmp_path: Path) -> None:
    import torch
    from peft import PeftModel
    from transformers import AutoModelForSeq2SeqLM

    config = hf.sft_config(
        tiny_seq2seq, lora={"modules_to_save": None, "target_modules": "auto"}, training={"num_epochs": 2}
    )
    outcome = hf.train(config, tmp_path / "run", hf.reverse_rows(32, 17), hf.reverse_rows(8, 18))
    assert outcome.architecture == "seq2seq_lm" and outcome.eval_loss is not None
    assert math.isfinite(outcome.train_loss or math.nan)

    from verifily_adapters.hf_backend.backend import HFModelBackend

    rows = hf.reverse_rows(5, 19)
    predictor = HFModelBackend().load(tmp_path / "run", hf.info_for(config, outcome))
    texts = predictor.generate(rows, max_new_tokens=6, num_beams=2, batch_size=2)
    assert len(texts) == 5 and all(isinstance(t, str) for t in texts)
    model = PeftModel.from_pretrained(
        AutoModelForSeq2SeqLM.from_pretrained(tiny_seq2seq), tmp_path / "run/adapter"
    )
    lora_b = [p for n, p in model.named_parameters() if "lora_B" in n]
    assert lora_b and any(float(p.abs().max()) > 0 for p in lora_b)
    assert torch.isfinite(
        torch.tensor([t.nll_sum for t in predictor.reference_loss(rows, batch_size=3)])
    ).all()


def test_classification_on_minilm_reaches_high_accuracy(tmp_path: Path) -> None:
    from verifily_adapters.hf_backend.backend import HFModelBackend
    from verifily_adapters.hf_backend.tiny import minilm_path

    config = hf.sft_config(
        minilm_path(),
        task="classification",
        lora={"r": 8, "modules_to_save": None, "target_modules": "auto"},
        training={"num_epochs": 3, "learning_rate": 1e-3, "max_seq_length": 64},
    )
    train_rows, test_rows = hf.sentiment_rows(40, 20), hf.sentiment_rows(16, 21)
    outcome = hf.train(config, tmp_path / "run", train_rows, labels=["negative", "positive"])
    assert outcome.architecture == "sequence_classification"
    predictor = HFModelBackend().load(tmp_path / "run", hf.info_for(config, outcome))
    predictions = predictor.classify(test_rows, batch_size=5)
    accuracy = sum(p.label == e.label for p, e in zip(predictions, test_rows)) / len(test_rows)
    assert accuracy >= 0.85
    for p in predictions:
        assert set(p.probabilities) == {"negative", "positive"}
        assert sum(p.probabilities.values()) == pytest.approx(1.0, abs=1e-5)
        assert p.label == max(p.probabilities, key=p.probabilities.__getitem__)
