"""The hash chain (verifily_core.domain.hashchain): hashes, hashes.json, and verify_chain verdicts."""

from __future__ import annotations

import hashlib
import re
from dataclasses import replace
from pathlib import Path
from typing import Any, Dict

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from verifily_core.config import TrainConfig
from verifily_core.domain.hashchain import (
    HashChain,
    config_hash,
    data_hash,
    environment_hash,
    hash_data_files,
    overall_verdict,
    reproducibility_hash,
    sha256_file,
    verify_chain,
)
from verifily_core.domain.manifest import manifest_findings, scan_run
from verifily_core.errors import DataError, StoreError

SHA = re.compile(r"^sha256:[0-9a-f]{64}$")
ENV = {"python": "3.11.9", "torch": "2.13.0", "platform": "Linux-x86_64", "device": "cpu"}


def _config(**overrides: Any) -> TrainConfig:
    return TrainConfig.from_dict({"task": "sft", "base_model": "tiny", **overrides})


def _chain(tmp_path: Path, env: Dict[str, str] = ENV) -> HashChain:
    for name in ("a.jsonl", "b.jsonl", "val.jsonl"):
        (tmp_path / name).write_text(f'{{"instruction": "{name}", "output": "x"}}\n')
    files = [
        ("train", tmp_path / "a.jsonl"),
        ("train", tmp_path / "b.jsonl"),
        ("val", tmp_path / "val.jsonl"),
    ]
    return HashChain.build(_config(), env, files=files, artifacts={"adapter/w.bin": "sha256:" + "0" * 64})


# ---------------------------------------------------------------------- hashes


def test_sha256_file_streams_and_matches_hashlib(tmp_path: Path) -> None:
    path = tmp_path / "big.bin"
    data = bytes(range(256)) * 9000  # > 2 chunks of 1 MiB
    path.write_bytes(data)
    assert sha256_file(path) == "sha256:" + hashlib.sha256(data).hexdigest()
    with pytest.raises(DataError, match="not found"):
        sha256_file(tmp_path / "missing")


def test_every_hash_is_prefixed_hex_and_the_formula_is_the_guides(tmp_path: Path) -> None:
    chain = _chain(tmp_path)
    for h in (chain.config_hash, chain.data_hash, chain.environment_hash, chain.reproducibility_hash):
        assert SHA.match(h)
    joined = f"{chain.config_hash}|{chain.data_hash}|{chain.environment_hash}|42"
    assert chain.reproducibility_hash == "sha256:" + hashlib.sha256(joined.encode()).hexdigest()
    assert chain.seed == 42


def test_data_hash_covers_role_order_and_bytes_not_path_or_mtime(tmp_path: Path) -> None:
    a, b = tmp_path / "a.jsonl", tmp_path / "b.jsonl"
    a.write_text("one\n")
    b.write_text("two\n")
    base, records = data_hash([("train", a), ("train", b)])
    assert [(r.role, r.path, r.bytes) for r in records] == [("train", str(a), 4), ("train", str(b), 4)]
    assert data_hash([("train", b), ("train", a)])[0] != base
    assert data_hash([("train", a), ("val", b)])[0] != base
    moved = tmp_path / "sub"
    moved.mkdir()
    (moved / "a.jsonl").write_text("one\n")
    assert data_hash([("train", moved / "a.jsonl"), ("train", b)])[0] == base
    b.write_text("two!\n")
    assert data_hash([("train", a), ("train", b)])[0] != base


def test_data_hash_of_a_missing_file_is_a_data_error_naming_it(tmp_path: Path) -> None:
    with pytest.raises(DataError, match="gone.jsonl"):
        data_hash([("train", tmp_path / "gone.jsonl")])
    assert hash_data_files([("test", tmp_path / "gone.jsonl")])[0].sha256 is None


def test_environment_hash_ignores_order_but_not_values() -> None:
    assert environment_hash(ENV) == environment_hash(dict(reversed(list(ENV.items()))))
    assert environment_hash(ENV) != environment_hash({**ENV, "torch": "2.14.0"})


@settings(max_examples=40, deadline=None)
@given(
    lr=st.sampled_from([(2e-4, 0.0002, "2e-4", "2.0e-4", "0.0002"), (5e-5, "5e-5", 0.00005, "5.0E-5")]),
    data=st.data(),
    order=st.permutations(["task", "base_model", "training", "seed", "lora"]),
)
def test_config_hash_ignores_key_order_and_number_spelling(lr: Any, data: Any, order: Any) -> None:
    values = {"task": "sft", "base_model": "tiny", "seed": 7, "lora": {"r": 8, "alpha": 16}}
    first, second = data.draw(st.sampled_from(lr)), data.draw(st.sampled_from(lr))
    one = {k: values.get(k, {"learning_rate": first, "num_epochs": 2}) for k in order}
    two = {k: values.get(k, {"num_epochs": 2.0, "learning_rate": second}) for k in reversed(order)}
    assert config_hash(TrainConfig.from_dict(one)) == config_hash(TrainConfig.from_dict(two))
    three = {**one, "training": {"learning_rate": first, "num_epochs": 3}}
    assert config_hash(TrainConfig.from_dict(three)) != config_hash(TrainConfig.from_dict(one))


def test_scan_run_walks_every_file_sorted_and_leaves_out_only_the_unsealed(tmp_path: Path) -> None:
    for rel in (
        "adapter/b.bin",
        "adapter/a.json",
        "adapter/sub/c.txt",
        "eval/eval_results.json",
        "checkpoints/checkpoint-1/w.bin",
        "logs/events",
        "other.txt",
        "hashes.json",
        "provenance.intoto.jsonl",
        "billing_outbox.jsonl",
        ".lock",
        ".heartbeat.json",
    ):
        (tmp_path / rel).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / rel).write_text(rel)
    found, problems = scan_run(tmp_path)
    assert list(found) == [
        "adapter/a.json",
        "adapter/b.bin",
        "adapter/sub/c.txt",
        "checkpoints/checkpoint-1/w.bin",
        "eval/eval_results.json",
        "logs/events",
        "other.txt",
    ]
    assert found["adapter/b.bin"] == "sha256:" + hashlib.sha256(b"adapter/b.bin").hexdigest()
    assert problems == []


# ---------------------------------------------------------------------- hashes.json


def test_chain_round_trips_through_dict(tmp_path: Path) -> None:
    chain = _chain(tmp_path)
    data = chain.to_dict()
    assert {
        "config_hash",
        "data_hash",
        "environment_hash",
        "reproducibility_hash",
        "seed",
        "data_files",
        "artifacts",
    } <= set(data)
    assert HashChain.from_dict(data) == chain


@pytest.mark.parametrize(
    "bad",
    [
        [],
        {"config_hash": "x"},
        {
            "config_hash": "x",
            "data_hash": "y",
            "environment_hash": "z",
            "reproducibility_hash": "w",
            "seed": "many",
        },
    ],
)
def test_malformed_hashes_json_is_a_store_error(bad: Any) -> None:
    with pytest.raises(StoreError, match="hashes.json"):
        HashChain.from_dict(bad)


# ---------------------------------------------------------------------- verify_chain


def test_identical_chains_pass(tmp_path: Path) -> None:
    chain = _chain(tmp_path)
    result = verify_chain(chain, HashChain.from_dict(chain.to_dict()), run_id="r")
    assert result.verdict == "PASS" and result.passed
    assert result.checks == {"config_hash": "PASS", "data_hash": "PASS", "environment_hash": "PASS"}
    assert result.details == [] and result.warnings == []


def test_changed_environment_warns_naming_the_changed_facts(tmp_path: Path) -> None:
    recorded = _chain(tmp_path)
    env = {**ENV, "torch": "2.14.0"}
    current = replace(recorded, environment_hash=environment_hash(env))
    result = verify_chain(recorded, current, recorded_env=ENV, current_env=env)
    assert result.verdict == "PASS"  # strictly PASS or FAIL; what warned is listed apart
    assert result.checks["environment_hash"] == "WARN"
    assert result.details == result.warnings == ["torch: 2.13.0 -> 2.14.0"]


def test_changed_config_fails_naming_config_yaml(tmp_path: Path) -> None:
    recorded = _chain(tmp_path)
    current = replace(recorded, config_hash=config_hash(_config(seed=43)))
    result = verify_chain(recorded, current)
    assert result.verdict == "FAIL" and not result.passed
    assert result.checks["config_hash"] == "FAIL"
    assert result.details[0].startswith("config.yaml changed: recorded sha256:")


def test_changed_and_missing_data_files_fail_naming_each(tmp_path: Path) -> None:
    recorded = _chain(tmp_path)
    (tmp_path / "b.jsonl").write_text("changed\n")
    (tmp_path / "val.jsonl").unlink()
    records = hash_data_files([(r.role, r.path) for r in recorded.data_files])
    current = replace(recorded, data_files=records, data_hash="sha256:" + "1" * 64)
    result = verify_chain(recorded, current)
    assert result.checks["data_hash"] == "FAIL"
    assert len(result.details) == 2
    assert result.details[0].startswith(f"train data file changed: {tmp_path / 'b.jsonl'}: recorded sha256:")
    assert result.details[1] == f"val data file missing: {tmp_path / 'val.jsonl'}"


def test_manifest_findings_name_changed_missing_added_and_unsafe_keys() -> None:
    recorded = {
        "adapter/w.bin": "sha256:" + "0" * 64,
        "tokenizer/t.json": "sha256:" + "2" * 64,
        "../../../../etc/passwd": "sha256:" + "3" * 64,
        "/proc/self/pagemap": "sha256:" + "4" * 64,
    }
    current = {"adapter/w.bin": "sha256:" + "f" * 64, "eval/extra.json": "sha256:" + "5" * 64}
    notes = manifest_findings(recorded, current)
    assert notes[0] == "unsafe path in hashes.json (never opened): '../../../../etc/passwd'"
    assert notes[1] == "unsafe path in hashes.json (never opened): '/proc/self/pagemap'"
    assert notes[2].startswith("file changed: adapter/w.bin: recorded sha256:000000000000...")
    assert notes[3:] == [
        "file missing: tokenizer/t.json",
        "file not in the seal (added after sealing): eval/extra.json",
    ]


def test_overall_verdict() -> None:
    assert overall_verdict({"a": "PASS", "b": "PASS"}) == "PASS"
    assert overall_verdict({"a": "PASS", "b": "WARN"}) == "PASS"
    assert overall_verdict({"a": "FAIL", "b": "WARN"}) == "FAIL"


def test_reproducibility_hash_depends_on_every_part() -> None:
    parts = ("sha256:" + "a" * 64, "sha256:" + "b" * 64, "sha256:" + "c" * 64)
    base = reproducibility_hash(*parts, 42)
    assert reproducibility_hash(*parts, 43) != base
    assert reproducibility_hash(parts[1], parts[0], parts[2], 42) != base
