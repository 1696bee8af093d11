"""The TensorBoard and WandB trackers for real: event files read back, a wandb offline run."""

from __future__ import annotations

import builtins
import logging
import subprocess
import sys
from pathlib import Path
from typing import Any, Dict, List, Tuple

import pytest

from verifily_adapters.tensorboard_tracker.tracker import TensorBoardTracker
from verifily_adapters.wandb_tracker.tracker import MISSING_MESSAGE, WandbTracker
from verifily_core.config import TrainConfig
from verifily_core.errors import TrackerError

LOGGED: List[Tuple[Dict[str, float], int]] = [
    ({"train/loss": 2.5, "train/learning_rate": 2e-4}, 10),
    ({"train/loss": 1.25, "train/learning_rate": 1e-4}, 20),
    ({"eval/loss": 1.5}, 20),
    ({"train/loss": 0.75, "train/learning_rate": 5e-5}, 30),
]


def make_config(**wandb: Any) -> TrainConfig:
    return TrainConfig.from_dict({"task": "sft", "base_model": "tiny", "wandb": {"enabled": True, **wandb}})


# ---------------------------------------------------------------------- TensorBoard


def test_tensorboard_event_files_hold_every_logged_scalar(tmp_path: Path) -> None:
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    tracker = TensorBoardTracker(make_config(), tmp_path)
    tracker.start("run_tb", make_config().flat())
    for metrics, step in LOGGED:
        tracker.log({**metrics, "note": "not a number", "flag": True}, step)
    tracker.finish({"train_loss": 0.75, "status": "completed"})

    files = list((tmp_path / "logs").glob("events.out.tfevents*"))
    assert len(files) == 1
    acc = EventAccumulator(str(tmp_path / "logs"))
    acc.Reload()
    expected: Dict[str, List[Tuple[int, float]]] = {}
    for metrics, step in LOGGED:
        for tag, value in metrics.items():
            expected.setdefault(tag, []).append((step, value))
    expected["final/train_loss"] = [(30, 0.75)]
    assert sorted(acc.Tags()["scalars"]) == sorted(expected)
    for tag, points in expected.items():
        got = [(e.step, e.value) for e in acc.Scalars(tag)]
        assert got == [(s, pytest.approx(v)) for s, v in points]


def test_tensorboard_used_before_start_is_a_tracker_error(tmp_path: Path) -> None:
    with pytest.raises(TrackerError, match="before start"):
        TensorBoardTracker(make_config(), tmp_path).log({"loss": 1.0}, 1)


# ---------------------------------------------------------------------- WandB


@pytest.fixture
def wandb_offline(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """wandb in offline mode with every folder of its own under tmp_path; returns WANDB_DIR."""
    home = tmp_path / "wandb-home"
    for name, sub in (
        ("WANDB_DIR", "dir"),
        ("WANDB_CACHE_DIR", "cache"),
        ("WANDB_CONFIG_DIR", "config"),
        ("WANDB_DATA_DIR", "data"),
        ("WANDB_ARTIFACT_DIR", "artifacts"),
    ):
        (home / sub).mkdir(parents=True)
        monkeypatch.setenv(name, str(home / sub))
    monkeypatch.setenv("WANDB_MODE", "offline")
    monkeypatch.setenv("WANDB_SILENT", "true")
    monkeypatch.delenv("WANDB_API_KEY", raising=False)
    return home / "dir"


def test_wandb_offline_run_records_every_key_at_its_step(
    wandb_offline: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    wandb = pytest.importorskip("wandb")
    inits: List[Dict[str, Any]] = []
    logged: List[Tuple[Dict[str, float], Any]] = []
    artifacts: List[Any] = []
    real_init, real_log, real_artifact = wandb.init, wandb.Run.log, wandb.Run.log_artifact

    def init_spy(**kwargs: Any) -> Any:
        inits.append(kwargs)
        return real_init(**kwargs)

    def log_spy(self: Any, data: Dict[str, float], step: Any = None, commit: Any = None) -> None:
        logged.append((dict(data), step))
        real_log(self, data, step=step, commit=commit)

    def artifact_spy(self: Any, artifact: Any, *args: Any, **kwargs: Any) -> Any:
        artifacts.append(artifact)
        return real_artifact(self, artifact, *args, **kwargs)

    monkeypatch.setattr(wandb, "init", init_spy)
    monkeypatch.setattr(wandb.Run, "log", log_spy)
    monkeypatch.setattr(wandb.Run, "log_artifact", artifact_spy)
    config = make_config(project="verifily-test", tags=["unit", "sft"], log_model=True)
    adapter = tmp_path / "run" / "adapter"
    adapter.mkdir(parents=True)
    (adapter / "adapter_config.json").write_text("{}")

    tracker = WandbTracker(config, tmp_path / "run")
    tracker.start("run_wandb", config.flat())
    for metrics, step in LOGGED:
        tracker.log(metrics, step)
    tracker.log_artifact(adapter, "adapter")
    tracker.finish({"train_loss": 0.75})

    assert logged == LOGGED
    assert inits[0]["project"] == "verifily-test" and inits[0]["tags"] == ["unit", "sft"]
    assert inits[0]["name"] == "run_wandb" and inits[0]["config"] == config.flat()
    assert [(a.type, a.name) for a in artifacts] == [("model", "run_wandb-adapter")]
    runs = list((wandb_offline / "wandb").glob("offline-run-*"))
    assert len(runs) == 1 and list(runs[0].glob("run-*.wandb"))


def test_wandb_without_api_key_and_not_offline_fails_before_training(
    wandb_offline: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    pytest.importorskip("wandb")
    monkeypatch.delenv("WANDB_MODE")
    monkeypatch.setenv("NETRC", str(tmp_path / "no-netrc"))
    with pytest.raises(TrackerError, match="no WandB API key") as info:
        WandbTracker(make_config(), tmp_path).start("run_x", {})
    assert "WANDB_MODE=offline" in (info.value.hint or "")


def test_wandb_netrc_login_counts_as_credentials(
    wandb_offline: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from verifily_adapters.wandb_tracker.tracker import _has_credentials

    netrc_file = tmp_path / "netrc"
    netrc_file.write_text("machine api.wandb.ai\n  login user\n  password " + "k" * 40 + "\n")
    netrc_file.chmod(0o600)
    monkeypatch.setenv("NETRC", str(netrc_file))
    assert _has_credentials()
    monkeypatch.setenv("WANDB_BASE_URL", "https://wandb.example.com")
    assert not _has_credentials()


def test_wandb_missing_logs_the_message_and_is_a_no_op(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    real_import = builtins.__import__

    def no_wandb(name: str, *args: Any, **kwargs: Any) -> Any:
        if name == "wandb" or name.startswith("wandb."):
            raise ImportError("No module named 'wandb'")
        return real_import(name, *args, **kwargs)

    monkeypatch.delitem(sys.modules, "wandb", raising=False)
    monkeypatch.setattr(builtins, "__import__", no_wandb)
    monkeypatch.delenv("WANDB_MODE", raising=False)
    monkeypatch.delenv("WANDB_API_KEY", raising=False)
    tracker = WandbTracker(make_config(log_model=True), tmp_path)
    with caplog.at_level(logging.WARNING, logger="verifily"):
        tracker.start("run_x", {})
        tracker.log({"loss": 1.0}, 1)
        tracker.log_artifact(tmp_path, "adapter")
        tracker.finish({"train_loss": 1.0})
    assert [r.getMessage() for r in caplog.records] == [MISSING_MESSAGE]
    assert MISSING_MESSAGE == "wandb not installed, disabling WandB logging"


def test_hooks_register_the_adapters_without_importing_their_frameworks() -> None:
    script = (
        "import sys\n"
        "from verifily_adapters.billing_sinks import hooks as billing\n"
        "from verifily_adapters.tensorboard_tracker import hooks as tb\n"
        "from verifily_adapters.wandb_tracker import hooks as wb\n"
        "names = [c.PLUGIN_NAME for c in billing.verifily_register_billing_sink()]\n"
        "names += [tb.verifily_register_tracker().PLUGIN_NAME, wb.verifily_register_tracker().PLUGIN_NAME]\n"
        "heavy = sorted(m for m in ('httpx', 'wandb', 'tensorboard', 'torch') if m in sys.modules)\n"
        "print(names, heavy)\n"
    )
    out = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "['jsonl', 'webhook', 'tensorboard', 'wandb'] []"
