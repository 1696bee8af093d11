"""The hf Predictor over a trained tiny run: batching, reload fidelity, teacher-forced losses."""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any

import pytest

from verifily_core.domain.prompts import prompt_of
from verifily_core.errors import BackendError

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def predictor(trained_causal: Any) -> Any:
    from verifily_adapters.hf_backend.backend import HFModelBackend

    return HFModelBackend().load(trained_causal.run_dir, trained_causal.info, device="cpu")


def test_batched_greedy_generation_equals_one_at_a_time(predictor: Any, trained_causal: Any) -> None:
    rows = trained_causal.test_rows
    batched = predictor.generate(rows, max_new_tokens=10, num_beams=1, batch_size=7)
    single = [predictor.generate([row], max_new_tokens=10, num_beams=1, batch_size=1)[0] for row in rows]
    assert batched == single
    assert len({len(r.input) for r in rows}) > 1  # prompts of different lengths really were padded


def test_results_come_back_in_input_order(predictor: Any, trained_causal: Any) -> None:
    rows = trained_causal.test_rows[:9]
    forward = predictor.generate(rows, max_new_tokens=10, num_beams=1, batch_size=4)
    backward = predictor.generate(rows[::-1], max_new_tokens=10, num_beams=1, batch_size=4)
    assert backward == forward[::-1]


def test_reloaded_adapter_predicts_like_the_predictor(predictor: Any, trained_causal: Any) -> None:
    """PeftModel.from_pretrained on adapter/ + plain HF generate gives the predictor's answers."""
    import torch
    from peft import PeftModel
    from transformers import AutoModelForCausalLM, AutoTokenizer

    base = AutoModelForCausalLM.from_pretrained(trained_causal.config.base_model)
    model = PeftModel.from_pretrained(base, trained_causal.run_dir / "adapter").eval()
    tokenizer = AutoTokenizer.from_pretrained(trained_causal.run_dir / "tokenizer")
    rows = trained_causal.test_rows[:6]
    expected = []
    for row in rows:
        ids = tokenizer(prompt_of(row), return_tensors="pt")
        with torch.no_grad():
            out = model.generate(
                **ids,
                max_new_tokens=10,
                do_sample=False,
                pad_token_id=tokenizer.pad_token_id,
                eos_token_id=tokenizer.eos_token_id,
            )
        expected.append(
            tokenizer.decode(out[0, ids["input_ids"].shape[1] :], skip_special_tokens=True).strip()
        )
    assert predictor.generate(rows, max_new_tokens=10, num_beams=1, batch_size=6) == expected
    assert sum(e == r.output for e, r in zip(expected, rows)) > 0


def test_reference_loss_equals_a_manual_forward_pass(predictor: Any, trained_causal: Any) -> None:
    import torch
    from peft import PeftModel
    from transformers import AutoModelForCausalLM, AutoTokenizer

    model = PeftModel.from_pretrained(
        AutoModelForCausalLM.from_pretrained(trained_causal.config.base_model),
        trained_causal.run_dir / "adapter",
    ).eval()
    tokenizer = AutoTokenizer.from_pretrained(trained_causal.run_dir / "tokenizer")
    rows = trained_causal.test_rows[:5]
    got = predictor.reference_loss(rows, batch_size=3)
    for row, loss in zip(rows, got):
        prompt = tokenizer(prompt_of(row))["input_ids"]
        answer = tokenizer(row.output, add_special_tokens=False)["input_ids"] + [tokenizer.eos_token_id]
        ids = torch.tensor([prompt + answer])
        with torch.no_grad():
            logprobs = torch.log_softmax(model(input_ids=ids).logits[0].float(), dim=-1)
        nll = -sum(float(logprobs[len(prompt) + i - 1, tok]) for i, tok in enumerate(answer))
        assert loss.num_tokens == len(answer)
        assert loss.nll_sum == pytest.approx(nll, rel=1e-4, abs=1e-4)


def test_wrong_task_calls_are_refused(predictor: Any, trained_causal: Any) -> None:
    from verifily_core.domain.examples import ClassificationExample

    with pytest.raises(BackendError, match="classification"):
        predictor.classify([ClassificationExample(text="x", label="a")], batch_size=1)


def test_run_without_adapter_or_model_is_a_clear_error(trained_causal: Any, tmp_path: Path) -> None:
    from verifily_adapters.hf_backend.backend import HFModelBackend

    run = tmp_path / "run"
    shutil.copytree(trained_causal.run_dir / "tokenizer", run / "tokenizer")
    with pytest.raises(BackendError, match="neither adapter/ nor model/"):
        HFModelBackend().load(run, trained_causal.info)


def test_missing_architecture_is_redetected(trained_causal: Any) -> None:
    from verifily_adapters.hf_backend.backend import HFModelBackend

    info = {k: v for k, v in trained_causal.info.items() if k != "architecture"}
    predictor = HFModelBackend().load(trained_causal.run_dir, info)
    assert predictor.architecture == "causal_lm"
