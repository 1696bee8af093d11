"""The object-storage store against a real S3 API server (moto, tests/s3_server.py): the ArtifactStore
conformance suite, uploads while training (complete checkpoints only, the seal last), mirrors on
another machine, verification that streams the bucket, and the store picked from the URL."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any, Dict

import pytest

from verifily_core.conformance import ArtifactStoreConformance
from verifily_core.domain.locations import remote_url
from verifily_core.errors import RunNotFoundError, StoreError

pytestmark = pytest.mark.timeout(120)


def objects(server: Any, bucket: str, prefix: str) -> Dict[str, bytes]:
    s3 = server.client()
    found = s3.list_objects_v2(Bucket=bucket, Prefix=prefix).get("Contents", [])
    return {o["Key"][len(prefix) :]: s3.get_object(Bucket=bucket, Key=o["Key"])["Body"].read() for o in found}


@pytest.fixture
def url(s3_server: Any) -> str:
    return f"s3://{s3_server.bucket()}/team/runs"


def store_at(url: str, cache: Path) -> Any:
    """A store as a process on another machine sees it: its own staging folder."""
    from verifily_adapters.fsspec_store.store import FsspecArtifactStore

    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("VERIFILY_STORE_CACHE", str(cache))
        return FsspecArtifactStore(url)


class TestFsspecStoreConformance(ArtifactStoreConformance):
    @pytest.fixture
    def store_class(self) -> type:
        from verifily_adapters.fsspec_store.store import FsspecArtifactStore

        return FsspecArtifactStore

    @pytest.fixture
    def store(self, store_class: type, url: str, tmp_path: Path) -> Any:
        return store_at(url, tmp_path / "cache")

    @pytest.fixture
    def hooks_module(self) -> str:
        return "verifily_adapters.fsspec_store.hooks"


def test_urls_survive_a_path_and_local_folders_stay_local() -> None:
    assert remote_url("s3://bucket/runs/") == "s3://bucket/runs"
    assert remote_url(Path("s3://bucket/runs")) == "s3://bucket/runs"  # Path leaves "s3:/bucket/runs"
    assert remote_url("runs/s3:") is None and remote_url("/tmp/runs") is None and remote_url("C:/x") is None


def test_bootstrap_picks_the_store_from_the_scheme(s3_server: Any, url: str, tmp_path: Path) -> None:
    from verifily_core.bootstrap import open_run, open_store

    store = open_store(Path(url))
    assert type(store).PLUGIN_NAME == "fsspec" and store.url == url
    assert type(open_store(tmp_path / "runs")).PLUGIN_NAME == "local"
    run_id = store.create_run().run_id
    store.write_json(run_id, "run_meta.json", {"run_id": run_id})
    opened, found = open_run(f"{url}/{run_id}")
    assert found == run_id and opened.address(run_id) == f"{url}/{run_id}"
    with pytest.raises(RunNotFoundError, match="No run at"):
        open_run(f"{url}/run_20260101_000000_abcdef")
    assert not (Path.cwd() / "s3:").exists()


def test_a_run_is_uploaded_as_it_goes_and_the_seal_last(s3_server: Any, url: str, tmp_path: Path) -> None:
    store = store_at(url, tmp_path / "a")
    bucket, prefix = url[5:].split("/", 1)
    run_id = store.create_run().run_id
    store.write_json(run_id, "run_meta.json", {"status": "running"})
    remote = f"{prefix}/{run_id}/"
    assert json.loads(objects(s3_server, bucket, remote)["run_meta.json"]) == {"status": "running"}
    staging = store.local_dir(run_id)
    ckpt = staging / "checkpoints" / "checkpoint-2"
    ckpt.mkdir(parents=True)
    (ckpt / "adapter_model.safetensors").write_bytes(b"w" * 1000)
    store.sync(run_id)  # a checkpoint without trainer_state.json is still being written
    assert not any(k.startswith("checkpoints/") for k in objects(s3_server, bucket, remote))
    (ckpt / "trainer_state.json").write_text("{}")
    (staging / ".lock").write_text("")
    store.sync(run_id)
    keys = objects(s3_server, bucket, remote)
    assert {
        "checkpoints/checkpoint-2/adapter_model.safetensors",
        "checkpoints/checkpoint-2/trainer_state.json",
    } <= set(keys)
    assert ".lock" not in keys  # this machine's run lock stays here
    (staging / "adapter").mkdir()
    (staging / "adapter" / "w.bin").write_bytes(b"adapter")
    store.write_json(run_id, "hashes.json", {"seal": True})  # the seal uploads everything first
    keys = objects(s3_server, bucket, remote)
    assert keys["adapter/w.bin"] == b"adapter" and json.loads(keys["hashes.json"]) == {"seal": True}
    for path in ckpt.iterdir():
        path.unlink()
    ckpt.rmdir()
    store.sync(run_id)  # a checkpoint the trainer rotated out leaves the bucket too
    assert not any(k.startswith("checkpoints/") for k in objects(s3_server, bucket, remote))


def test_another_machine_mirrors_reads_and_verifies_by_streaming(
    s3_server: Any, url: str, tmp_path: Path
) -> None:
    writer = store_at(url, tmp_path / "a")
    run_id = writer.create_run("shared").run_id
    writer.write_json(run_id, "run_meta.json", {"status": "completed"})
    (writer.local_dir(run_id) / "adapter").mkdir()
    (writer.local_dir(run_id) / "adapter" / "w.bin").write_bytes(b"x" * 5000)
    writer.sync(run_id)
    reader = store_at(url, tmp_path / "b")
    assert [loc.run_id for loc in reader.list_runs()] == [run_id]
    assert reader.read_json(run_id, "run_meta.json") == {"status": "completed"}
    digests, problems = reader.file_digests(run_id)
    assert problems == [] and digests["adapter/w.bin"] == "sha256:" + hashlib.sha256(b"x" * 5000).hexdigest()
    assert not (reader.root / run_id / "adapter").exists()  # verification made no local copy
    bucket, prefix = url[5:].split("/", 1)
    s3_server.client().put_object(Bucket=bucket, Key=f"{prefix}/{run_id}/adapter/w.bin", Body=b"y" * 5000)
    tampered, _ = store_at(url, tmp_path / "c").file_digests(run_id)
    assert tampered["adapter/w.bin"] != digests["adapter/w.bin"]
    mirror = reader.local_dir(run_id)  # what a backend loads: the bucket's bytes
    assert (mirror / "adapter" / "w.bin").read_bytes() == b"y" * 5000
    with pytest.raises(StoreError, match=f"{url}/{run_id}/missing.json not found"):
        reader.read_json(run_id, "missing.json")


def test_a_bucket_that_does_not_exist_is_a_store_error(s3_server: Any, tmp_path: Path) -> None:
    store = store_at("s3://no-such-bucket-verifily/runs", tmp_path / "cache")
    assert store.list_runs() == []
    with pytest.raises(StoreError, match="no-such-bucket-verifily"):
        store.create_run()


def _evaluated_run(store: Any, name: str, f1: float) -> str:
    """A run as train + eval-cmd leave it in the bucket (only the files compare reads)."""
    run_id = store.create_run(name).run_id
    store.write_json(run_id, "run_meta.json", {"run_id": run_id, "status": "completed", "task": "sft"})
    store.write_text(run_id, "config.yaml", f"task: sft\nbase_model: tiny\nname: {name}\n")
    results = {"run_id": run_id, "num_examples": 10, "overall": {"f1": f1}, "slices": {}}
    store.write_json(run_id, "eval/eval_results.json", results)
    return run_id


def test_compare_reads_bucket_runs_from_the_facade_and_the_cli(s3_server: Any, url: str) -> None:
    """compare opens its stores through bootstrap, so a bucket works as it does for train."""
    from helpers.cli import invoke

    from verifily_core.bootstrap import open_store
    from verifily_train.compare import compare

    store = open_store(url)
    first, second = _evaluated_run(store, "base", 0.5), _evaluated_run(store, "tuned", 0.75)
    by_url = compare([f"{url}/{first}", f"{url}/{second}"], "f1", bootstrap=0)
    by_id = compare([first, second], "f1", runs_dir=url, bootstrap=0)
    for result in (by_url, by_id):
        assert result.overall == {first: 0.5, second: 0.75}
    done = invoke("compare-cmd", "--runs", f"{first},{second}", "--runs-dir", url, "--format", "json")
    assert done.exit_code == 0, done.output
    assert json.loads(done.output)["overall"] == {first: 0.5, second: 0.75}
