"""The MLflow tracker against a real ``mlflow server`` (SQLite backend, local artifact root, free port).

One tiny real run (HF + PEFT on the tiny llama, evaluated on a tagged test set, ``log_model`` on) is
read back through ``mlflow.MlflowClient``; the registered model version is downloaded and loaded
with PEFT; a second server is killed in the middle of a second run, whose spool is then replayed
into the restarted server.
"""

from __future__ import annotations

import json
import logging
import os
import time
from pathlib import Path
from typing import Any, Dict, List, Optional

import pytest

pytest.importorskip("mlflow")

from helpers.data import reverse_rows  # noqa: E402
from helpers.runs import tiny_sft_config, tiny_workspace  # noqa: E402
from helpers.servers import MlflowServer, free_port  # noqa: E402

from verifily_adapters.mlflow_tracker.spool import SPOOL, read, replay  # noqa: E402
from verifily_adapters.mlflow_tracker.tracker import MISSING_MESSAGE, MlflowTracker, tracking_uri  # noqa: E402
from verifily_core.bootstrap import build_training  # noqa: E402
from verifily_core.config import TrainConfig  # noqa: E402
from verifily_core.domain.runs import TRACKING  # noqa: E402
from verifily_core.domain.training import TrainCallbacks  # noqa: E402
from verifily_core.services.training.train import train  # noqa: E402
from verifily_train import verify  # noqa: E402


@pytest.fixture(scope="module")
def workspace(tmp_path_factory: pytest.TempPathFactory) -> Path:
    rows = {"train": reverse_rows(32, 1), "val": reverse_rows(8, 2), "test": reverse_rows(8, 3)}
    for i, row in enumerate(rows["test"]):
        row["tags"]["source"] = "human" if i % 2 else "synthetic"
    return tiny_workspace(tmp_path_factory.mktemp("mlflow-ws"), **rows)


def config_for(root: Path, uri: str, **mlflow: Any) -> TrainConfig:
    data = {name: str(root / f"{name}.jsonl") for name in ("train", "val", "test")}
    config = tiny_sft_config(
        base_model=str(root / "tiny"),
        seed=5,
        data_paths=data,
        training={"logging_steps": 1, "eval_steps": 2, "save_steps": 1000},
        eval={
            "slice_by_tags": ["source"],
            "hard_examples": 3,
            "batch_size": 8,
            "generation_max_new_tokens": 6,
            "generation_num_beams": 1,
        },
        output={"dir": str(root / "runs")},
        trackers=["mlflow"],
        mlflow={"tracking_uri": uri, "experiment": "verifily-tests", **mlflow},
    )
    return TrainConfig.from_dict(config)


@pytest.fixture(scope="module")
def tracked(mlflow_server: MlflowServer, workspace: Path) -> Any:
    config = config_for(
        workspace, mlflow_server.uri, log_model=True, registered_model="tiny-reverser", tags={"team": "nlp"}
    )
    return train(config, build_training(config))


@pytest.fixture(scope="module")
def mlflow_run(mlflow_server: MlflowServer, tracked: Any) -> Any:
    from mlflow import MlflowClient

    client = MlflowClient(mlflow_server.uri)
    links = json.loads((Path(tracked.artifact_path) / TRACKING).read_text())["mlflow"]
    return client, client.get_run(links["run_id"]), links


@pytest.mark.slow
@pytest.mark.timeout(300)
def test_a_run_logs_params_step_metrics_slices_tags_and_files(tracked: Any, mlflow_run: Any) -> None:
    client, run, links = mlflow_run
    run_dir = Path(tracked.artifact_path)
    assert tracked.status == "completed"
    assert run.info.run_name == tracked.run_id and run.info.status == "FINISHED"
    assert links["url"].endswith(f"/#/experiments/{run.info.experiment_id}/runs/{run.info.run_id}")

    params = run.data.params
    assert float(params["training.learning_rate"]) == 5e-3
    assert params["lora.target_modules"] == "all-linear" and params["task"] == "sft"
    assert params["mlflow.tags.team"] == "nlp"
    assert set(params) == set(TrainConfig.from_yaml(run_dir / "config.yaml").flat())

    hashes = json.loads((run_dir / "hashes.json").read_text())
    tags = run.data.tags
    for key in ("config_hash", "data_hash", "environment_hash", "reproducibility_hash"):
        assert tags[f"verifily.{key}"] == hashes[key]
    assert tags["verifily.run_id"] == tracked.run_id and tags["team"] == "nlp"

    summary = json.loads((run_dir / "train_summary.json").read_text())
    logged = [(e["step"], e["loss"]) for e in summary["log_history"] if "loss" in e]
    history = [(m.step, m.value) for m in client.get_metric_history(run.info.run_id, "loss")]
    assert len(history) == summary["global_step"] >= 4
    assert sorted(history) == [(s, pytest.approx(v)) for s, v in sorted(logged)]
    assert {m.step for m in client.get_metric_history(run.info.run_id, "eval_loss")} == {2, 4}

    results = json.loads((run_dir / "eval" / "eval_results.json").read_text())
    for value in ("human", "synthetic"):
        cell = results["slices"]["source"][value]
        assert run.data.metrics[f"slice/source/{value}/f1"] == pytest.approx(cell["f1"])
        assert run.data.metrics[f"slice/source/{value}/n"] == cell["n"]
    assert run.data.metrics["final/eval/f1"] == pytest.approx(results["overall"]["f1"])

    def files(path: Optional[str] = None) -> List[str]:
        out: List[str] = []
        for a in client.list_artifacts(run.info.run_id, path):
            out += files(a.path) if a.is_dir else [a.path]
        return out

    assert {
        "hashes.json",
        "eval/eval_results.json",
        "eval/hard_examples.jsonl",
        "adapter/adapter_config.json",
        "adapter/adapter_model.safetensors",
    } <= set(files())
    assert not (run_dir / SPOOL).exists()


@pytest.mark.slow
@pytest.mark.timeout(300)
def test_the_registered_version_carries_the_hashes_and_predicts_like_the_run(
    mlflow_server: MlflowServer,
    tracked: Any,
    mlflow_run: Any,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    import mlflow
    import torch
    from peft import PeftModel
    from transformers import AutoModelForCausalLM, AutoTokenizer

    client, run, links = mlflow_run
    run_dir = Path(tracked.artifact_path)
    assert links["registered_model"] == "tiny-reverser"
    version = client.get_model_version("tiny-reverser", links["model_version"])
    assert version.run_id == run.info.run_id
    assert version.tags["verifily.reproducibility_hash"] == tracked.reproducibility_hash
    monkeypatch.setenv("MLFLOW_TRACKING_URI", mlflow_server.uri)  # the registry too, as in docs/tracking.md
    downloaded = mlflow.artifacts.download_artifacts(
        artifact_uri=f"models:/tiny-reverser/{version.version}",
        dst_path=str(tmp_path / "dl"),
    )
    base = str(run_dir.parents[1] / "tiny")
    tokenizer = AutoTokenizer.from_pretrained(base)
    batch = tokenizer(["Reverse the letters.\na b c\n"], return_tensors="pt")

    def logits(adapter: str) -> Any:
        model = PeftModel.from_pretrained(AutoModelForCausalLM.from_pretrained(base), adapter).eval()
        with torch.no_grad():
            return model(**batch).logits

    trained = logits(str(run_dir / "adapter"))
    assert torch.equal(logits(downloaded), trained)
    untouched = AutoModelForCausalLM.from_pretrained(base).eval()
    with torch.no_grad():
        assert not torch.allclose(untouched(**batch).logits, trained)  # the adapter does change things


@pytest.mark.slow
@pytest.mark.timeout(300)
def test_server_killed_mid_run_the_run_completes_reports_once_and_replays(
    workspace: Path, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    from mlflow import MlflowClient

    dying = MlflowServer(tmp_path).start()
    config = config_for(workspace, dying.uri, experiment="dies-mid-run")
    killed_at: Dict[str, float] = {}

    def on_step(step: int, total: int) -> None:
        if step == 2 and not killed_at:
            dying.stop()
            killed_at["t"] = time.monotonic()

    with caplog.at_level(logging.WARNING, logger="verifily"):
        run = train(config, build_training(config), callbacks=TrainCallbacks(on_step=on_step))
    after_kill = time.monotonic() - killed_at["t"]
    assert run.status == "completed"
    reports = [r.getMessage() for r in caplog.records if "mlflow" in r.getMessage().lower()]
    assert len(reports) == 1 and "failed" in reports[0] and dying.uri in reports[0], reports
    run_dir = Path(run.artifact_path)
    header, ops = read(run_dir)
    links = json.loads((run_dir / TRACKING).read_text())["mlflow"]
    assert header["run_id"] == links["run_id"] and header["tracking_uri"] == dying.uri
    assert [op["op"] for op in ops][-1] == "close"
    assert after_kill < 120  # the rest of training + evaluation; a dead server costs seconds, not minutes

    dying.start()  # the same database, on a new port
    report = replay(run_dir, dying.uri)
    dying.stop()
    assert (report.delivered, report.remaining, report.run_id) == (len(ops), 0, links["run_id"])
    assert not (run_dir / SPOOL).exists()
    verified = verify(run_dir)
    assert verified.verdict == "PASS", verified.checks  # the replay changed bookkeeping, not the sealed run
    # the server is stopped again: read the SQLite file it wrote
    client = MlflowClient(f"sqlite:///{tmp_path / 'mlflow.db'}")
    got = client.get_run(links["run_id"])
    assert got.info.status == "FINISHED"
    steps = sorted(m.step for m in client.get_metric_history(links["run_id"], "loss"))
    summary = json.loads((run_dir / "train_summary.json").read_text())
    assert steps == list(range(1, summary["global_step"] + 1))  # before the kill, and replayed after
    assert "slice/source/human/f1" in got.data.metrics


@pytest.mark.timeout(120)
def test_unreachable_server_costs_seconds_and_is_reported_once(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    config = TrainConfig.from_dict(
        {
            "task": "sft",
            "base_model": "tiny",
            "trackers": ["mlflow"],
            "mlflow": {"tracking_uri": f"http://127.0.0.1:{free_port()}"},
        }
    )
    run_dir = tmp_path / "runs" / "run_x"
    run_dir.mkdir(parents=True)
    tracker = MlflowTracker(config, run_dir)
    started = time.monotonic()
    with caplog.at_level(logging.WARNING, logger="verifily"):
        tracker.start("run_x", config.flat())
        for step in range(1, 21):
            tracker.log({"loss": 1.0 / step, "bad": float("nan")}, step)
        tracker.finish({"train_loss": 0.05, "eval": {"f1": 0.5}})
    assert time.monotonic() - started < 20
    assert len([r for r in caplog.records if "MLflow" in r.getMessage()]) == 1
    header, ops = read(run_dir)
    assert header["run_id"] is None and "Connection" in header["error"]
    assert [op["op"] for op in ops] == ["open", "params", *["metrics"] * 21, "close"]
    assert all("bad" not in op.get("metrics", {}) for op in ops)
    assert not (run_dir / TRACKING).exists()


def test_the_default_store_is_mlruns_beside_the_runs_folder(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from mlflow import MlflowClient

    config = TrainConfig.from_dict({"task": "sft", "base_model": "tiny", "trackers": ["mlflow"]})
    run_dir = tmp_path / "runs" / "run_local"
    (run_dir / "adapter").mkdir(parents=True)
    monkeypatch.setenv("MLFLOW_TRACKING_URI", "http://example.invalid:5000")
    assert tracking_uri(config, run_dir) == "http://example.invalid:5000"
    monkeypatch.delenv("MLFLOW_TRACKING_URI")
    uri = tracking_uri(config, run_dir)
    assert uri == f"sqlite:///{tmp_path / 'mlruns' / 'mlflow.db'}"
    tracker = MlflowTracker(config, run_dir)
    tracker.start("run_local", config.flat())
    tracker.log({"loss": 0.5}, 1)
    tracker.finish({"train_loss": 0.5})
    links = json.loads((run_dir / TRACKING).read_text())["mlflow"]
    assert links["url"] is None and links["tracking_uri"] == uri
    run = MlflowClient(uri).get_run(links["run_id"])
    assert run.info.artifact_uri.startswith((tmp_path / "mlruns" / "artifacts").as_uri())
    assert run.data.metrics == {"loss": 0.5, "final/train_loss": 0.5}


def test_a_distributed_run_logs_once_from_the_main_process(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Rank 0 opens the trackers; rank 1 trains the same run without any (the service's rule)."""
    from mlflow import MlflowClient

    from verifily_adapters.local_store.store import LocalArtifactStore
    from verifily_core.domain.distributed import LAUNCH_ID_ENV
    from verifily_core.services.training.dependencies import TrainDependencies
    from verifily_core.testing import ScriptedModelBackend

    (tmp_path / "train.jsonl").write_text("".join(json.dumps(r) + "\n" for r in reverse_rows(8, 1)))
    config = TrainConfig.from_dict(
        {
            "task": "sft",
            "base_model": "scripted",
            "trackers": ["mlflow"],
            "output": {"dir": "runs"},
            "data_paths": {"train": str(tmp_path / "train.jsonl")},
        }
    )
    opened: List[int] = []

    class Counted(MlflowTracker):
        def start(self, run_id: str, config: Any) -> None:
            opened.append(int(os.environ["RANK"]))
            super().start(run_id, config)

    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv(LAUNCH_ID_ENV, "launch-test")
    monkeypatch.setenv("WORLD_SIZE", "2")
    runs = []
    for rank in ("0", "1"):
        monkeypatch.setenv("RANK", rank)
        deps = TrainDependencies(ScriptedModelBackend(), LocalArtifactStore(tmp_path / "runs"), [Counted])
        runs.append(train(config, deps))
    assert runs[0].run_id == runs[1].run_id and opened == [0]
    found = MlflowClient(f"sqlite:///{tmp_path / 'mlruns' / 'mlflow.db'}").search_runs(["1"])
    assert [r.info.run_name for r in found] == [runs[0].run_id]


def test_mlflow_not_installed_is_one_warning_and_no_files(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    import importlib.util

    real = importlib.util.find_spec
    monkeypatch.setattr(
        importlib.util, "find_spec", lambda name, *a: None if name == "mlflow" else real(name, *a)
    )
    config = TrainConfig.from_dict({"task": "sft", "base_model": "tiny", "trackers": ["mlflow"]})
    run_dir = tmp_path / "runs" / "run_x"
    (run_dir / "adapter").mkdir(parents=True)
    tracker = MlflowTracker(config, run_dir)
    with caplog.at_level(logging.WARNING, logger="verifily"):
        tracker.start("run_x", config.flat())
        tracker.log({"loss": 1.0}, 1)
        tracker.log_artifact(run_dir / "adapter", "adapter")
        tracker.finish({"train_loss": 1.0})
    assert [r.getMessage() for r in caplog.records] == [MISSING_MESSAGE]
    assert sorted(p.name for p in tmp_path.rglob("*")) == ["adapter", "run_x", "runs"]
