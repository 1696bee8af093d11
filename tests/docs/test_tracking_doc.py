"""docs/tracking.md runs as written: its config parses, its Python examples run in order, in one
namespace, against a real ``mlflow server``; the spool example replays a run whose server was down."""

from __future__ import annotations

import contextlib
import io
import json
import re
from pathlib import Path

import pytest
import yaml

from verifily_cli.demo.workspace import reverse_rows
from verifily_core.config import TrainConfig

pytestmark = pytest.mark.slow
DOC = Path(__file__).resolve().parents[2] / "docs" / "tracking.md"


def _blocks(lang: str) -> list[str]:
    return re.findall(rf"```{lang}\n(.*?)```", DOC.read_text(encoding="utf-8"), flags=re.S)


def test_the_yaml_examples_are_valid_configs() -> None:
    blocks = _blocks("yaml")
    assert len(blocks) == 2
    for block in blocks:
        config = TrainConfig.from_dict({"task": "sft", "base_model": "m", **yaml.safe_load(block)})
        assert "mlflow" in config.trackers or "tensorboard" in config.trackers


@pytest.mark.timeout(300)
def test_the_python_examples_run_in_order(
    mlflow_server: object, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from mlflow_server import Server, free_port

    from verifily_adapters.hf_backend.tiny import build_tiny_causal_lm
    from verifily_adapters.mlflow_tracker.tracker import MlflowTracker

    build_tiny_causal_lm(tmp_path / "tiny")
    rows = reverse_rows(24, 1)
    for i, row in enumerate(rows):
        row["tags"]["source"] = "human" if i % 2 else "synthetic"
    (tmp_path / "data.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    config = {
        "task": "sft",
        "base_model": "tiny",
        "data_paths": {"train": "data.jsonl", "test": "data.jsonl"},
        "training": {
            "num_epochs": 1,
            "batch_size": 8,
            "learning_rate": 5e-3,
            "max_seq_length": 64,
            "logging_steps": 1,
            "gradient_accumulation_steps": 1,
        },
        "lora": {"r": 4, "dropout": 0.0, "target_modules": "all-linear"},
        "compute": {"device": "cpu", "bf16": False},
        "eval": {
            "slice_by_tags": ["source"],
            "batch_size": 12,
            "generation_max_new_tokens": 6,
            "generation_num_beams": 1,
        },
        "mlflow": {"experiment": "docs"},
        "output": {"dir": "runs"},
    }
    (tmp_path / "train.yaml").write_text(yaml.safe_dump(config))
    # a run whose server was down all along: its spool waits for a server on that port
    port = free_port()
    down = TrainConfig.from_dict({**config, "mlflow": {"tracking_uri": f"http://127.0.0.1:{port}"}})
    tracker = MlflowTracker(down, tmp_path / "runs" / "run_spooled")
    (tmp_path / "runs" / "run_spooled").mkdir(parents=True)
    tracker.start("run_spooled", down.flat())
    tracker.log({"loss": 1.0}, 1)
    tracker.finish({"train_loss": 1.0})
    back = Server(tmp_path / "back")
    (tmp_path / "back").mkdir()

    monkeypatch.setenv("MLFLOW_TRACKING_URI", mlflow_server.uri)
    monkeypatch.chdir(tmp_path)
    namespace = {"__name__": "__docs__"}
    printed = io.StringIO()
    blocks = _blocks("python")
    assert len(blocks) == 4
    try:
        with contextlib.redirect_stdout(printed):
            for i, code in enumerate(blocks):
                if i == 3:
                    back.start(port)
                exec(compile(code, str(DOC), "exec"), namespace)  # noqa: S102
    finally:
        back.stop()
    out = printed.getvalue().splitlines()
    assert out[0].split()[1].startswith(mlflow_server.uri + "/#/experiments/")
    assert out[1] == "0.005" and out[2] == "True"
    assert "slice/source/human/f1" in out[3]
    assert out[5] == "True" and out[6] == "PeftModelForCausalLM"
    assert out[7] == "run_spooled 5 delivered, 0 left "  # open, params, 2 x metrics, close
    assert not (tmp_path / "runs" / "run_spooled" / "mlflow_spool.jsonl").exists()
