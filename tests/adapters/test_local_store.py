"""LocalArtifactStore: run ids, collisions, atomic writes, path safety, listing, corrupt files.

The rules of the ArtifactStore port are checked on the local store and on the shipped in-memory
fake alike (``store`` fixture), so that tests of the core on the fake prove something about the
real store; filesystem-only behaviour (atomic rename, symlinks) is checked on the local store.
"""

from __future__ import annotations

import json
import re
import threading
from datetime import datetime, timezone
from pathlib import Path
from typing import Callable, List

import pytest

import verifily_adapters.atomic as atomic
import verifily_core.domain.runs as runs
from verifily_adapters.local_store.store import LocalArtifactStore
from verifily_core.domain.runs import RUN_META
from verifily_core.errors import RunNotFoundError, StoreError
from verifily_core.ports import ArtifactStore
from verifily_core.testing import InMemoryArtifactStore

FROZEN = datetime(2026, 2, 8, 14, 30, 22, tzinfo=timezone.utc)


@pytest.fixture(params=["local", "memory"])
def store(request: pytest.FixtureRequest, tmp_path: Path) -> ArtifactStore:
    if request.param == "local":
        return LocalArtifactStore(tmp_path / "runs")
    return InMemoryArtifactStore(tmp_path / "runs", local_root=tmp_path / "local")


@pytest.fixture
def local(tmp_path: Path) -> LocalArtifactStore:
    return LocalArtifactStore(tmp_path / "runs")


@pytest.fixture
def frozen_clock(monkeypatch: pytest.MonkeyPatch) -> datetime:
    """Every run id is drawn within the same second."""
    monkeypatch.setattr(runs, "utc_now", lambda: FROZEN)
    return FROZEN


def _run_in_threads(count: int, work: Callable[[], str]) -> List[str]:
    ids: List[str] = []
    lock = threading.Lock()
    barrier = threading.Barrier(count)

    def worker() -> None:
        barrier.wait()
        for _ in range(10):
            run_id = work()
            with lock:
                ids.append(run_id)

    threads = [threading.Thread(target=worker) for _ in range(count)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return ids


# ---------------------------------------------------------------- run ids (both stores)
def test_unnamed_run_id_has_date_time_and_hex_token(store: ArtifactStore) -> None:
    before = datetime.now(timezone.utc)
    run = store.create_run()
    after = datetime.now(timezone.utc)
    match = re.fullmatch(r"run_(\d{8})_(\d{6})_([0-9a-f]{6})", run.run_id)
    assert match, run.run_id
    stamp = datetime.strptime(match[1] + match[2], "%Y%m%d%H%M%S").replace(tzinfo=timezone.utc)
    assert before.replace(microsecond=0) <= stamp <= after
    assert store.location(run.run_id).run_id == run.run_id


def test_named_runs_get_suffixes_on_collision(store: ArtifactStore, frozen_clock: datetime) -> None:
    ids = [store.create_run("lr-sweep").run_id for _ in range(3)]
    day = frozen_clock.strftime("%Y%m%d")
    assert ids == [f"run_{day}_lr-sweep", f"run_{day}_lr-sweep_2", f"run_{day}_lr-sweep_3"]


def test_unnamed_runs_in_the_same_second_never_share_an_id(
    store: ArtifactStore, frozen_clock: datetime, monkeypatch: pytest.MonkeyPatch
) -> None:
    tokens = iter(["aaaaaa", "aaaaaa", "aaaaaa", "bbbbbb"])
    monkeypatch.setattr(runs.secrets, "token_hex", lambda n: next(tokens))
    first, second = store.create_run().run_id, store.create_run().run_id
    assert first.endswith("_143022_aaaaaa") and second.endswith("_143022_bbbbbb")


@pytest.mark.parametrize("name", [None, "exp"])
def test_ids_are_unique_across_threads(store: ArtifactStore, frozen_clock: datetime, name: str) -> None:
    ids = _run_in_threads(8, lambda: store.create_run(name).run_id)
    assert len(ids) == 80 and len(set(ids)) == 80
    if name:
        day = frozen_clock.strftime("%Y%m%d")
        assert set(ids) == {f"run_{day}_exp"} | {f"run_{day}_exp_{n}" for n in range(2, 81)}


# ---------------------------------------------------------------- listing and reading (both stores)
def test_list_runs_holds_only_runs_with_run_meta_sorted(store: ArtifactStore) -> None:
    made = [store.create_run(name).run_id for name in ("b", "a", "c")]
    for run_id in made[:2]:
        store.write_json(run_id, RUN_META, {"run_id": run_id})
    assert [r.run_id for r in store.list_runs()] == sorted(made[:2])


@pytest.mark.parametrize("bad", ["..", ".", "", "/etc", "a/b", "..\\x", "../runs", "no_such_run"])
def test_location_refuses_anything_but_an_existing_run(store: ArtifactStore, bad: str) -> None:
    store.create_run("real")
    with pytest.raises(RunNotFoundError):
        store.location(bad)


def test_corrupt_json_is_a_store_error_naming_the_file(store: ArtifactStore) -> None:
    run_id = store.create_run().run_id
    store.write_text(run_id, RUN_META, '{"status": "running",\n "run_id": ')
    with pytest.raises(StoreError) as caught:
        store.read_json(run_id, RUN_META)
    assert f"{run_id}/{RUN_META}:2" in str(caught.value)
    with pytest.raises(StoreError, match="train_summary.json"):
        store.read_json(run_id, "train_summary.json")


def test_run_file_paths_stay_inside_the_run(store: ArtifactStore) -> None:
    run_id = store.create_run().run_id
    for bad in ("../other/run_meta.json", "/tmp/x.json"):
        with pytest.raises(StoreError):
            store.write_json(run_id, bad, {})


# ---------------------------------------------------------------- local store only
def test_layout_on_disk_and_no_temp_files_left(local: LocalArtifactStore) -> None:
    run = local.create_run()
    local.write_json(run.run_id, RUN_META, {"status": "running"})
    local.write_jsonl(run.run_id, "eval/predictions.jsonl", [{"i": i} for i in range(3)])
    local.write_json(run.run_id, RUN_META, {"status": "completed"})
    files = sorted(p.relative_to(run.path).as_posix() for p in run.path.rglob("*") if p.is_file())
    assert files == ["eval/predictions.jsonl", RUN_META]
    assert json.loads((run.path / RUN_META).read_text()) == {"status": "completed"}
    assert local.size_bytes(run.run_id) == sum((run.path / f).stat().st_size for f in files)


@pytest.mark.parametrize("failing", ["fsync", "replace"])
def test_failed_write_keeps_the_old_file_and_leaves_no_temp(
    local: LocalArtifactStore, monkeypatch: pytest.MonkeyPatch, failing: str
) -> None:
    run = local.create_run()
    local.write_json(run.run_id, RUN_META, {"status": "running"})

    def boom(*args: object) -> None:
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(atomic.os, failing, boom)
    with pytest.raises(StoreError, match=rf"{run.run_id}/{RUN_META}: No space left"):
        local.write_json(run.run_id, RUN_META, {"status": "completed", "pad": "x" * 100_000})
    monkeypatch.undo()
    assert local.read_json(run.run_id, RUN_META) == {"status": "running"}
    assert sorted(p.name for p in run.path.iterdir()) == [RUN_META]


def test_readers_never_see_half_a_file(local: LocalArtifactStore) -> None:
    run_id = local.create_run().run_id
    versions = [{"v": i, "rows": [str(i) * 50] * 2000} for i in range(2)]
    local.write_json(run_id, RUN_META, versions[0])
    stop = threading.Event()
    seen: List[int] = []
    errors: List[Exception] = []

    def reader() -> None:
        while not stop.is_set():
            try:
                seen.append(local.read_json(run_id, RUN_META)["v"])
            except Exception as exc:  # any half file shows up here
                errors.append(exc)

    thread = threading.Thread(target=reader)
    thread.start()
    try:
        for i in range(40):
            local.write_json(run_id, RUN_META, versions[i % 2])
    finally:
        stop.set()
        thread.join()
    assert not errors and seen and set(seen) <= {0, 1}


def test_symlinks_leading_outside_are_refused(local: LocalArtifactStore, tmp_path: Path) -> None:
    outside = tmp_path / "outside_run"
    outside.mkdir()
    (outside / RUN_META).write_text("{}")
    local.create_run()
    (local.root / "run_sneaky").symlink_to(outside, target_is_directory=True)
    with pytest.raises(RunNotFoundError):
        local.location("run_sneaky")
    assert "run_sneaky" not in [r.run_id for r in local.list_runs()]


def test_create_run_on_an_unwritable_root_is_a_store_error(tmp_path: Path) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("not a folder")
    with pytest.raises(StoreError, match="file"):
        LocalArtifactStore(blocker / "runs").create_run()
