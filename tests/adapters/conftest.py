"""Shared tiny models and one trained SFT run for the hf backend tests (built once per session);
the helpers they are built with are in ``tests/helpers/hf.py``."""

from __future__ import annotations

from pathlib import Path

import pytest
from helpers.hf import Recorder, TrainedRun, reverse_rows, sft_config, train


@pytest.fixture(scope="session")
def tiny_causal(tmp_path_factory: pytest.TempPathFactory) -> Path:
    from verifily_adapters.hf_backend.tiny import build_tiny_causal_lm

    return build_tiny_causal_lm(tmp_path_factory.mktemp("tiny") / "causal")


@pytest.fixture(scope="session")
def tiny_seq2seq(tmp_path_factory: pytest.TempPathFactory) -> Path:
    from verifily_adapters.hf_backend.tiny import build_tiny_seq2seq

    return build_tiny_seq2seq(tmp_path_factory.mktemp("tiny") / "t5")


@pytest.fixture(scope="session")
def trained_causal(tiny_causal: Path, tmp_path_factory: pytest.TempPathFactory) -> TrainedRun:
    """The tiny llama trained on letter reversal (~200 steps, a few seconds on 2 cores)."""
    config = sft_config(tiny_causal, training={"num_epochs": 25, "eval_steps": 100})
    recorder = Recorder()
    run_dir = tmp_path_factory.mktemp("runs") / "causal"
    outcome = train(
        config, run_dir, reverse_rows(64, 1), reverse_rows(8, 3, "val.jsonl"), recorder.callbacks()
    )
    return TrainedRun(config, run_dir, outcome, recorder, reverse_rows(24, 2, "test.jsonl"))
