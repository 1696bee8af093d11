"""The ArtifactStore suite: run ids, file round trips, atomic writes and the errors of bad paths."""

from __future__ import annotations

import hashlib
import re
from pathlib import Path

import pytest

from verifily_core.conformance.imports import HooksAreLight
from verifily_core.errors import RunNotFoundError, StoreError
from verifily_core.ports import ArtifactStore


class ArtifactStoreConformance(HooksAreLight):
    """The ArtifactStore contract; override ``store_class``."""

    @pytest.fixture
    def store_class(self) -> type:
        raise NotImplementedError("override the `store_class` fixture to return your store class")

    @pytest.fixture
    def store(self, store_class: type[ArtifactStore], tmp_path: Path) -> ArtifactStore:
        return store_class(tmp_path / "runs")

    def test_ids_follow_the_contract_and_never_collide(self, store: ArtifactStore) -> None:
        plain = [store.create_run().run_id for _ in range(3)]
        assert all(re.fullmatch(r"run_\d{8}_\d{6}_[0-9a-f]{6}", rid) for rid in plain)
        assert len(set(plain)) == 3
        named = [store.create_run("exp").run_id for _ in range(3)]
        assert re.fullmatch(r"run_\d{8}_exp", named[0]) and named[1:] == [f"{named[0]}_2", f"{named[0]}_3"]

    def test_files_round_trip_and_overwrite_whole(self, store: ArtifactStore) -> None:
        rid = store.create_run().run_id
        store.write_json(rid, "a.json", {"x": [1, 2]})
        store.write_json(rid, "a.json", {"y": "é"})
        store.write_text(rid, "logs/t.txt", "hello\n")
        store.write_jsonl(rid, "rows.jsonl", [{"i": i} for i in range(3)])
        assert store.read_json(rid, "a.json") == {"y": "é"}
        assert store.read_text(rid, "logs/t.txt") == "hello\n"
        assert list(store.iter_jsonl(rid, "rows.jsonl")) == [{"i": 0}, {"i": 1}, {"i": 2}]
        assert store.exists(rid, "a.json") and not store.exists(rid, "b.json")
        assert store.size_bytes(rid) >= len("hello\n")

    def test_atomic_writes_leave_no_temporary_files(self, store: ArtifactStore) -> None:
        loc = store.create_run()
        store.write_text(loc.run_id, "f.txt", "x" * 10000)
        folder = store.location(loc.run_id).path
        if (folder / "f.txt").is_file():  # remote and in-memory stores keep no local copy
            assert sorted(p.name for p in folder.rglob("*") if p.is_file()) == ["f.txt"]

    def test_work_dir_is_a_local_folder_outside_every_run(self, store: ArtifactStore) -> None:
        """What the ranks of a distributed launch share (``services.training.ranks``)."""
        rid = store.create_run().run_id
        work = store.work_dir()
        assert isinstance(work, Path)
        work.mkdir(parents=True, exist_ok=True)
        (work / ".launch-probe.json").write_text('{"run_id": "x"}', encoding="utf-8")
        assert (store.work_dir() / ".launch-probe.json").read_text(encoding="utf-8") == '{"run_id": "x"}'
        assert not store.exists(rid, ".launch-probe.json")
        assert [loc.run_id for loc in store.list_runs()] in ([], [rid])

    def test_bad_files_are_store_errors_naming_the_file(self, store: ArtifactStore) -> None:
        rid = store.create_run().run_id
        with pytest.raises(StoreError, match="missing.json"):
            store.read_json(rid, "missing.json")
        store.write_text(rid, "bad.json", "{not json")
        with pytest.raises(StoreError, match="bad.json"):
            store.read_json(rid, "bad.json")

    def test_list_runs_finds_runs_with_meta_sorted(self, store: ArtifactStore) -> None:
        ids = [store.create_run().run_id for _ in range(2)]
        for rid in ids:
            store.write_json(rid, "run_meta.json", {"run_id": rid})
        assert [loc.run_id for loc in store.list_runs()] == sorted(ids)
        assert store.location(ids[0]).run_id == ids[0]

    @pytest.mark.parametrize("bad", ["..", "../x", "/etc", "no_such_run", "a/../.."])
    def test_location_refuses_anything_but_a_present_run(self, store: ArtifactStore, bad: str) -> None:
        store.create_run()
        with pytest.raises(RunNotFoundError):
            store.location(bad)

    @pytest.mark.parametrize("bad", ["../outside.json", "/etc/passwd", "a/../../x.json"])
    def test_run_file_paths_never_leave_the_run(self, store: ArtifactStore, bad: str) -> None:
        rid = store.create_run().run_id
        with pytest.raises(StoreError):
            store.write_text(rid, bad, "x")
        with pytest.raises(StoreError):
            store.read_text(rid, bad)
        assert not store.exists(rid, bad)

    def test_file_digests_list_every_file_the_seal_covers(self, store: ArtifactStore) -> None:
        """What ``hashes.json``'s manifest is made of: every file with its SHA-256, minus the few
        the manifest leaves out (the seal itself, locks, queues), and only within a scope if given."""
        rid = store.create_run().run_id
        store.write_text(rid, "eval/eval_results.json", "{}")
        store.write_text(rid, "train_summary.json", "{}")
        store.write_text(rid, "hashes.json", "{}")
        digests, problems = store.file_digests(rid)
        assert problems == []
        assert digests == {
            "eval/eval_results.json": "sha256:" + hashlib.sha256(b"{}").hexdigest(),
            "train_summary.json": "sha256:" + hashlib.sha256(b"{}").hexdigest(),
        }
        assert list(store.file_digests(rid, ["eval"])[0]) == ["eval/eval_results.json"]
