"""Rank, world size and the run-id rendezvous that lets every rank of a launch share one run folder."""

from __future__ import annotations

import json
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from verifily_adapters.local_store.store import LocalArtifactStore
from verifily_core.domain import distributed
from verifily_core.domain.distributed import Ranks
from verifily_core.domain.runs import RUN_META
from verifily_core.errors import ConfigError, StoreError
from verifily_core.services.training import ranks


def test_rank_and_world_from_the_launcher_environment() -> None:
    place = Ranks.from_env({"RANK": "1", "WORLD_SIZE": "2", "LOCAL_RANK": "1"})
    assert (place.rank, place.world_size) == (1, 2)
    assert not place.is_main_process
    assert place.inside_launch


def test_a_one_process_launch_is_recognised_so_it_never_launches_again() -> None:
    # ``accelerate launch --num_processes 1`` uses a simple launcher that sets no rank variables
    assert Ranks.from_env({"ACCELERATE_DYNAMO_BACKEND": "NO"}).inside_launch
    assert Ranks.from_env({distributed.LAUNCH_ID_ENV: "abc"}).inside_launch


def test_a_plain_process_is_the_main_one_and_not_launched() -> None:
    assert Ranks.from_env({}) == Ranks()
    assert Ranks().is_main_process and Ranks().world_size == 1 and not Ranks().inside_launch


def test_launch_key_prefers_the_parent_launch_id() -> None:
    assert Ranks.from_env({distributed.LAUNCH_ID_ENV: "abc"}, parent_pid=7).key == "abc"
    assert Ranks.from_env({}, parent_pid=7).key == "ppid7"
    assert Ranks.from_env({distributed.LAUNCH_ID_ENV: "abc"}).launched_by_parent


def test_the_environment_is_read_when_asked_never_at_import(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("RANK", "3")
    monkeypatch.setenv("WORLD_SIZE", "4")
    assert (ranks.current().rank, ranks.current().world_size) == (3, 4)
    monkeypatch.delenv("RANK")
    assert ranks.current().rank == 0
    # importing with a broken value set must not fail: nothing is parsed at import
    importer = "import verifily_core.domain.distributed, verifily_core.services.training.ranks"
    env = {distributed.RENDEZVOUS_TIMEOUT_ENV: "soon", "PATH": "/usr/bin:/bin"}
    subprocess.run([sys.executable, "-c", importer], env=env, check=True, timeout=60)


def test_a_bad_rendezvous_timeout_is_a_config_error_naming_the_variable() -> None:
    assert distributed.rendezvous_timeout({}) == distributed.DEFAULT_RENDEZVOUS_TIMEOUT_S
    assert distributed.rendezvous_timeout({distributed.RENDEZVOUS_TIMEOUT_ENV: "30"}) == 30.0
    for bad in ("soon", "0", "-5"):
        with pytest.raises(ConfigError, match=distributed.RENDEZVOUS_TIMEOUT_ENV):
            distributed.rendezvous_timeout({distributed.RENDEZVOUS_TIMEOUT_ENV: bad})


def test_another_rank_receives_the_run_id_published_later(tmp_path: Path) -> None:
    publisher = threading.Timer(0.3, ranks.publish_run_id, (tmp_path, "k", "run_x"))
    publisher.start()
    assert ranks.await_run_id(tmp_path, "k", rank=1, timeout_s=10) == "run_x"
    ranks.withdraw_run_id(tmp_path, "k")
    assert ranks.read_run_id(tmp_path, "k") is None


def test_a_half_written_rendezvous_file_is_not_a_run_id(tmp_path: Path) -> None:
    distributed.rendezvous_file(tmp_path, "k").write_text('{"run_')
    assert ranks.read_run_id(tmp_path, "k") is None
    assert distributed.parse_rendezvous(distributed.rendezvous_text("run_y")) == "run_y"


def test_waiting_for_a_run_id_that_never_comes_is_bounded(tmp_path: Path) -> None:
    started = time.monotonic()
    with pytest.raises(StoreError, match="Rank 2 waited 0s .* gave up"):
        ranks.await_run_id(tmp_path, "missing", rank=2, timeout_s=0.5)
    assert time.monotonic() - started < 5


def test_ranks_on_other_machines_train_into_their_own_worker_folder(tmp_path: Path) -> None:
    assert Ranks.from_env({"GROUP_RANK": "0"}).on_main_machine
    assert not Ranks.from_env({"GROUP_RANK": "1"}).on_main_machine
    assert distributed.worker_dir(tmp_path, "k").parent.parent == tmp_path


def _running_run(store: LocalArtifactStore) -> str:
    run_id = store.create_run().run_id
    record = {"run_id": run_id, "status": "running", "task": "sft", "base_model": "m", "seed": 1}
    store.write_json(run_id, RUN_META, {**record, "started_at": "2026-12-01T00:00:00Z"})
    return run_id


def test_settling_a_failed_launch_marks_its_run_failed_and_cleans_up(tmp_path: Path) -> None:
    store = LocalArtifactStore(tmp_path / "runs")
    run_id = _running_run(store)
    ranks.publish_run_id(store.work_dir(), "launch1", run_id)
    assert ranks.settle_launch(store, "launch1", 1, "RuntimeError: boom in rank 1") == run_id
    meta = store.read_json(run_id, RUN_META)
    assert (meta["status"], meta["error"]) == ("failed", "RuntimeError: boom in rank 1")
    assert ranks.read_run_id(store.work_dir(), "launch1") is None


def test_settling_a_success_or_a_ctrl_c_marks_nothing(tmp_path: Path) -> None:
    store = LocalArtifactStore(tmp_path / "runs")
    run_id = _running_run(store)
    for code in (0, 130):
        ranks.publish_run_id(store.work_dir(), "launch2", run_id)
        assert ranks.settle_launch(store, "launch2", code, "ignored") is None
        assert json.loads((tmp_path / "runs" / run_id / RUN_META).read_text())["status"] == "running"
    assert ranks.settle_launch(store, "never-published", 1, "boom") is None
