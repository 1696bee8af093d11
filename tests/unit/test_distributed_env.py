"""Rank, world size and the run-id rendezvous that lets every rank of a launch share one run folder."""

from __future__ import annotations

import threading
import time
from pathlib import Path

import pytest

from verifily_core.domain import distributed
from verifily_core.errors import StoreError


def test_rank_and_world_from_the_launcher_environment() -> None:
    env = {"RANK": "1", "WORLD_SIZE": "2", "LOCAL_RANK": "1"}
    assert distributed.rank(env) == 1
    assert distributed.world_size(env) == 2
    assert not distributed.is_main_process(env)
    assert distributed.inside_launch(env)


def test_a_one_process_launch_is_recognised_so_it_never_launches_again() -> None:
    # ``accelerate launch --num_processes 1`` uses a simple launcher that sets no rank variables
    assert distributed.inside_launch({"ACCELERATE_DYNAMO_BACKEND": "NO"})
    assert distributed.inside_launch({distributed.LAUNCH_ID_ENV: "abc"})


def test_a_plain_process_is_the_main_one_and_not_launched() -> None:
    assert distributed.rank({}) == 0
    assert distributed.world_size({}) == 1
    assert distributed.is_main_process({})
    assert not distributed.inside_launch({})


def test_launch_key_prefers_the_parent_launch_id() -> None:
    assert distributed.launch_key({distributed.LAUNCH_ID_ENV: "abc"}) == "abc"
    assert distributed.launch_key({}).startswith("ppid")
    assert distributed.launched_by_parent({distributed.LAUNCH_ID_ENV: "abc"})


def test_another_rank_receives_the_run_id_published_later(tmp_path: Path) -> None:
    publisher = threading.Timer(0.3, distributed.publish_run_id, (tmp_path, "k", "run_x"))
    publisher.start()
    assert distributed.await_run_id(tmp_path, "k", timeout_s=10) == "run_x"
    distributed.withdraw_run_id(tmp_path, "k")
    assert distributed.read_run_id(tmp_path, "k") is None


def test_waiting_for_a_run_id_that_never_comes_is_bounded(tmp_path: Path) -> None:
    started = time.monotonic()
    with pytest.raises(StoreError, match="gave up"):
        distributed.await_run_id(tmp_path, "missing", timeout_s=0.5)
    assert time.monotonic() - started < 5


def test_ranks_on_other_machines_train_into_their_own_worker_folder(tmp_path: Path) -> None:
    assert distributed.on_main_machine({"GROUP_RANK": "0"})
    assert not distributed.on_main_machine({"GROUP_RANK": "1"})
    assert distributed.worker_dir(tmp_path, "k").parent.parent == tmp_path
