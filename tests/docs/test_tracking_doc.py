"""docs/tracking.md runs as written: its config parses, its Python examples run in order, in one
namespace, against a real ``mlflow server``; the spool example replays a run whose server was down."""

from __future__ import annotations

import contextlib
import io
import re
from pathlib import Path

import pytest
import yaml
from helpers.data import reverse_rows
from helpers.runs import tiny_sft_config, tiny_workspace, write_config

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
    from helpers.servers import MlflowServer, free_port

    from verifily_adapters.mlflow_tracker.tracker import MlflowTracker

    rows = reverse_rows(24, 1)
    for i, row in enumerate(rows):
        row["tags"]["source"] = "human" if i % 2 else "synthetic"
    tiny_workspace(tmp_path, data=rows)
    config = tiny_sft_config(
        data_paths={"train": "data.jsonl", "test": "data.jsonl"},
        training={"logging_steps": 1},
        eval={
            "slice_by_tags": ["source"],
            "batch_size": 12,
            "generation_max_new_tokens": 6,
            "generation_num_beams": 1,
        },
        mlflow={"experiment": "docs"},
    )
    write_config(tmp_path / "train.yaml", config)
    # a run whose server was down all along: its spool waits for a server on that port
    port = free_port()
    down = TrainConfig.from_dict({**config, "mlflow": {"tracking_uri": f"http://127.0.0.1:{port}"}})
    tracker = MlflowTracker(down, tmp_path / "runs" / "run_spooled")
    (tmp_path / "runs" / "run_spooled").mkdir(parents=True)
    tracker.start("run_spooled", down.flat())
    tracker.log({"loss": 1.0}, 1)
    tracker.finish({"train_loss": 1.0})
    back = MlflowServer(tmp_path / "back")
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
