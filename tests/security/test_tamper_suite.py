"""The tamper suite: a real, signed tiny run, copied and changed one way per case, then verified.

One run is trained once per session (the tiny local llama, LoRA, evaluated, a checkpoint and
TensorBoard logs, signed with a key made for the session). Each case copies its folder, changes one
thing the way a hostile user would, and runs ``verifily reproduce --verify-only --json`` (with
``--key`` where the case says so). The table gives the expected verdict and a phrase the report must
contain, which names the file or record that changed. Cases that change the data or the base model
(shared by every copy) restore them afterwards.
"""

from __future__ import annotations

import json
import os
import shutil
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Dict, Optional

import pytest
from helpers.data import reverse_rows
from helpers.runs import tiny_sft_config, tiny_workspace, write_config
from typer.testing import CliRunner

from verifily_cli.app import app
from verifily_core.domain.hashchain import reproducibility_hash
from verifily_core.domain.manifest import scan_run
from verifily_core.domain.provenance import generate_key_pair

pytestmark = pytest.mark.slow
runner = CliRunner()


@dataclass(frozen=True)
class Session:
    root: Path
    run: Path
    public_key: Path
    other_private_key: Path


def _key_pair(folder: Path) -> tuple[Path, Path]:
    folder.mkdir(parents=True)
    private, public = generate_key_pair()
    (folder / "signing_key.pem").write_bytes(private)
    (folder / "signing_key.pub.pem").write_bytes(public)
    return folder / "signing_key.pem", folder / "signing_key.pub.pem"


@pytest.fixture(scope="session")
def session(tmp_path_factory: pytest.TempPathFactory) -> Session:
    """One real run: trained, evaluated, checkpointed, logged and signed (about 10 s)."""
    root = tiny_workspace(
        tmp_path_factory.mktemp("tamper"), train=reverse_rows(32, 1), test=reverse_rows(8, 2)
    )
    private, public = _key_pair(root / "keys")
    other_private, _ = _key_pair(root / "attacker")
    config = tiny_sft_config(
        seed=5,
        name="tamper",
        data_paths={"train": "train.jsonl", "test": "test.jsonl"},
        training={"logging_steps": 2, "save_steps": 2, "save_total_limit": 1},
        eval={"hard_examples": 3, "batch_size": 8, "generation_max_new_tokens": 6},
    )
    write_config(root / "train.yaml", config)
    result = runner.invoke(
        app, ["train", "--config", str(root / "train.yaml")], env={"VERIFILY_SIGNING_KEY": str(private)}
    )
    assert result.exit_code == 0, result.output
    [run] = [p for p in (root / "runs").iterdir() if p.is_dir()]
    for expected in ("adapter", "tokenizer", "checkpoints", "logs", "eval/predictions.jsonl"):
        assert (run / expected).exists(), f"the session run lacks {expected}"
    assert (run / "provenance.intoto.jsonl").is_file(), "the session run was not signed"
    return Session(root, run, public, other_private)


# ---------------------------------------------------------------------- ways to change a run


def _edit_json(rel: str, change: Callable[[Any], None]) -> Callable[[Path, Session], None]:
    def apply(run: Path, _: Session) -> None:
        data = json.loads((run / rel).read_text(encoding="utf-8"))
        change(data)
        (run / rel).write_text(json.dumps(data, indent=2), encoding="utf-8")

    return apply


def _append(rel: str, text: str) -> Callable[[Path, Session], None]:
    def apply(run: Path, _: Session) -> None:
        with (run / rel).open("a", encoding="utf-8") as fh:
            fh.write(text)

    return apply


def _flip_byte(rel: str) -> Callable[[Path, Session], None]:
    def apply(run: Path, _: Session) -> None:
        data = bytearray((run / rel).read_bytes())
        data[len(data) // 2] ^= 0x01
        (run / rel).write_bytes(bytes(data))

    return apply


def _first(run: Path, pattern: str) -> Path:
    return sorted(run.glob(pattern))[0]


def _flip_first(pattern: str) -> Callable[[Path, Session], None]:
    def apply(run: Path, session: Session) -> None:
        _flip_byte(_first(run, pattern).relative_to(run).as_posix())(run, session)

    return apply


def _add(rel: str, text: str = "{}") -> Callable[[Path, Session], None]:
    def apply(run: Path, _: Session) -> None:
        (run / rel).parent.mkdir(parents=True, exist_ok=True)
        (run / rel).write_text(text, encoding="utf-8")

    return apply


def _remove(rel: str) -> Callable[[Path, Session], None]:
    def apply(run: Path, _: Session) -> None:
        target = run / rel
        shutil.rmtree(target) if target.is_dir() else target.unlink()

    return apply


def _reseal(run: Path) -> None:
    """What a forger with this code does after changing files: rewrite hashes.json consistently."""
    hashes = json.loads((run / "hashes.json").read_text(encoding="utf-8"))
    hashes["artifacts"], problems = scan_run(run)
    assert not problems
    (run / "hashes.json").write_text(json.dumps(hashes, indent=2), encoding="utf-8")


def _forge(*, keep_signature: bool) -> Callable[[Path, Session], None]:
    def apply(run: Path, session: Session) -> None:
        _flip_byte("adapter/adapter_model.safetensors")(run, session)
        _reseal(run)
        if not keep_signature:
            (run / "provenance.intoto.jsonl").unlink()

    return apply


def _forge_and_resign(run: Path, session: Session) -> None:
    from verifily_adapters.local_store.store import LocalArtifactStore
    from verifily_core.services.run_folder.seal import sign_run

    _forge(keep_signature=True)(run, session)
    sign_run(LocalArtifactStore(run.parent), run.name, session.other_private_key)


def _killed_run(run: Path, session: Session) -> None:
    """A run killed right after its folder was written: no outputs, status running, sealed as such."""
    for rel in (
        "adapter",
        "tokenizer",
        "eval",
        "checkpoints",
        "logs",
        "train_summary.json",
        "usage_summary.json",
    ):
        _remove(rel)(run, session)
    _edit_json("run_meta.json", lambda m: m.update(status="running", metrics={}))(run, session)
    (run / "provenance.intoto.jsonl").unlink()
    _reseal(run)


def _edit_repro_hash(data: Dict[str, Any]) -> None:
    data["reproducibility_hash"] = "sha256:" + "0" * 64


def _empty_artifacts_and_change_adapter(run: Path, session: Session) -> None:
    _flip_byte("adapter/adapter_model.safetensors")(run, session)
    _edit_json("hashes.json", lambda h: h.update(artifacts={}))(run, session)


def _consistent_seed_change(run: Path, session: Session) -> None:
    """hashes.json's seed and reproducibility_hash rewritten to agree with each other."""

    def change(h: Dict[str, Any]) -> None:
        h["seed"] = 6
        h["reproducibility_hash"] = reproducibility_hash(
            h["config_hash"], h["data_hash"], h["environment_hash"], 6
        )

    _edit_json("hashes.json", change)(run, session)


def _point_at_other_model(run: Path, session: Session) -> None:
    other = session.root / "other_model"
    if not other.exists():
        shutil.copytree(session.root / "tiny", other)
    _edit_json("training_info.json", lambda i: i.update(base_model_path=str(other)))(run, session)


def _key_in_artifacts(key: str) -> Callable[[Path, Session], None]:
    return _edit_json("hashes.json", lambda h: h["artifacts"].update({key: "sha256:" + "1" * 64}))


def _symlink_out(rel: str) -> Callable[[Path, Session], None]:
    def apply(run: Path, session: Session) -> None:
        (run / rel).unlink()
        (run / rel).symlink_to("/etc/passwd")

    return apply


def _fifo(rel: str) -> Callable[[Path, Session], None]:
    def apply(run: Path, _: Session) -> None:
        (run / rel).unlink()
        os.mkfifo(run / rel)

    return apply


def _shared(
    path_of: Callable[[Session], Path], change: Callable[[Path], None]
) -> Callable[[Path, Session], None]:
    """Change a file outside the run folder (data, base model); restored after the case."""

    def apply(run: Path, session: Session) -> None:
        target = path_of(session)
        RESTORE.append((target, target.read_bytes() if target.exists() else None))
        change(target)

    return apply


RESTORE: list[tuple[Path, Optional[bytes]]] = []


def _touch_bytes(path: Path) -> None:
    path.write_bytes(path.read_bytes() + b"\n")


def _new_file(path: Path) -> None:
    path.write_text("{}", encoding="utf-8")


def _none(run: Path, session: Session) -> None:
    return None


@dataclass(frozen=True)
class Case:
    name: str
    change: Callable[[Path, Session], None]
    verdict: str
    says: str  # a phrase the report must contain ("" for a clean PASS)
    key: bool = False


CASES = [
    # untouched
    Case("untouched", _none, "PASS", ""),
    Case("untouched, key given", _none, "PASS", "", key=True),
    # every file class of the run folder, changed
    Case(
        "adapter weights",
        _flip_byte("adapter/adapter_model.safetensors"),
        "FAIL",
        "file changed: adapter/adapter_model.safetensors",
    ),
    Case(
        "adapter config",
        _edit_json("adapter/adapter_config.json", lambda c: c.update(r=64)),
        "FAIL",
        "file changed: adapter/adapter_config.json",
    ),
    Case(
        "tokenizer",
        _append("tokenizer/tokenizer_config.json", " "),
        "FAIL",
        "file changed: tokenizer/tokenizer_config.json",
    ),
    Case(
        "predictions",
        _append("eval/predictions.jsonl", '{"prediction": "x"}\n'),
        "FAIL",
        "file changed: eval/predictions.jsonl",
    ),
    Case(
        "hard examples",
        _append("eval/hard_examples.jsonl", '{"rank": 99}\n'),
        "FAIL",
        "file changed: eval/hard_examples.jsonl",
    ),
    Case(
        "eval results",
        _edit_json("eval/eval_results.json", lambda r: r["overall"].update(f1=0.99)),
        "FAIL",
        "file changed: eval/eval_results.json",
    ),
    Case("training info model", _point_at_other_model, "FAIL", "training_info.json: base_model_path"),
    Case(
        "run_meta metrics",
        _edit_json("run_meta.json", lambda m: m["metrics"].update(train_loss=0.001)),
        "FAIL",
        "file changed: run_meta.json",
    ),
    Case(
        "run_meta hash copy",
        _edit_json("run_meta.json", _edit_repro_hash),
        "FAIL",
        "run_meta.json: reproducibility_hash",
    ),
    Case(
        "train summary",
        _edit_json("train_summary.json", lambda s: s.update(train_loss=0.001)),
        "FAIL",
        "file changed: train_summary.json",
    ),
    Case(
        "usage summary",
        _edit_json("usage_summary.json", lambda u: u.update(total_gpu_hours=0)),
        "FAIL",
        "file changed: usage_summary.json",
    ),
    Case("tensorboard log", _flip_first("logs/**/events.out.tfevents.*"), "FAIL", "file changed: logs/"),
    Case(
        "checkpoint",
        _flip_first("checkpoints/checkpoint-*/adapter_model.safetensors"),
        "FAIL",
        "file changed: checkpoints/",
    ),
    Case("frozen config", _append("config.yaml", "# edited\n"), "FAIL", "file changed: config.yaml"),
    Case(
        "environment.json",
        _edit_json("environment.json", lambda e: e.update(torch="0.0")),
        "FAIL",
        "file changed: environment.json",
    ),
    # extra and missing files
    Case(
        "extra chat template",
        _add("tokenizer/chat_template.json"),
        "FAIL",
        "not in the seal (added after sealing): tokenizer/chat_template.json",
    ),
    Case(
        "extra adapter file",
        _add("adapter/extra.safetensors", "x"),
        "FAIL",
        "not in the seal (added after sealing): adapter/extra.safetensors",
    ),
    Case(
        "leftover temp file",
        _add(".run_meta.json.abc123.tmp"),
        "FAIL",
        "added after sealing): .run_meta.json.abc123.tmp",
    ),
    Case(
        "missing tokenizer file",
        _remove("tokenizer/tokenizer_config.json"),
        "FAIL",
        "file missing: tokenizer/tokenizer_config.json",
    ),
    Case("missing adapter", _remove("adapter"), "FAIL", "file missing: adapter/adapter_model.safetensors"),
    Case(
        "unsealed lock files",
        lambda r, s: (_add(".lock", "")(r, s), _add(".heartbeat.json")(r, s)),
        "PASS",
        "",
    ),
    Case("unsealed billing outbox", _add("billing_outbox.jsonl", ""), "PASS", ""),
    # the records themselves
    Case(
        "artifacts emptied, adapter changed",
        _empty_artifacts_and_change_adapter,
        "FAIL",
        "added after sealing): adapter/adapter_model.safetensors",
    ),
    Case(
        "reproducibility_hash edited",
        _edit_json("hashes.json", _edit_repro_hash),
        "FAIL",
        "does not follow from its parts",
    ),
    Case(
        "seed rewritten consistently",
        _consistent_seed_change,
        "FAIL",
        "seed: config.yaml says 5, hashes.json says 6",
    ),
    Case(
        "base model digest nulled",
        _edit_json("hashes.json", lambda h: h["base_model"].update(digest=None)),
        "FAIL",
        "none when trained",
    ),
    Case("killed run, no outputs", _killed_run, "FAIL", "run status is running"),
    # inputs outside the folder
    Case(
        "data file changed",
        _shared(lambda s: s.root / "train.jsonl", _touch_bytes),
        "FAIL",
        "train data file changed",
    ),
    Case(
        "base model weights changed",
        _shared(lambda s: s.root / "tiny" / "model.safetensors", _touch_bytes),
        "FAIL",
        "base model file changed: model.safetensors",
    ),
    Case(
        "base model extra file",
        _shared(lambda s: s.root / "tiny" / "chat_template.json", _new_file),
        "FAIL",
        "base model file added: chat_template.json",
    ),
    # consistent forgery
    Case("forgery, unsigned chain", _forge(keep_signature=False), "PASS", ""),
    Case(
        "forgery, signature kept, no key",
        _forge(keep_signature=True),
        "FAIL",
        "hashes.json changed after the run was signed",
    ),
    Case(
        "forgery, key given",
        _forge(keep_signature=True),
        "FAIL",
        "hashes.json changed after the run was signed",
        key=True,
    ),
    Case("forgery, unsigned, key given", _forge(keep_signature=False), "FAIL", "run is not signed", key=True),
    Case(
        "forgery re-signed by another key",
        _forge_and_resign,
        "FAIL",
        "signature does not verify with key",
        key=True,
    ),
    # hostile paths and special files
    Case(
        "traversal key",
        _key_in_artifacts("../../../../etc/passwd"),
        "FAIL",
        "unsafe path in hashes.json (never opened): '../../../../etc/passwd'",
    ),
    Case(
        "absolute /proc key",
        _key_in_artifacts("/proc/self/pagemap"),
        "FAIL",
        "unsafe path in hashes.json (never opened): '/proc/self/pagemap'",
    ),
    Case(
        "symlink out of the folder",
        _symlink_out("eval/hard_examples.jsonl"),
        "FAIL",
        "symlink leaving the folder (to /etc/passwd): eval/hard_examples.jsonl",
    ),
    Case(
        "FIFO instead of a file",
        _fifo("eval/predictions.jsonl"),
        "FAIL",
        "not a regular file (FIFO, socket or device): eval/predictions.jsonl",
    ),
]


@pytest.mark.timeout(120)
@pytest.mark.parametrize("case", CASES, ids=[c.name for c in CASES])
def test_tampered_copy_gets_the_expected_verdict(case: Case, session: Session, tmp_path: Path) -> None:
    run = tmp_path / "runs" / session.run.name
    shutil.copytree(session.run, run, symlinks=True)
    try:
        case.change(run, session)
        args = ["reproduce", "--run", str(run), "--verify-only", "--json"]
        started = time.monotonic()
        result = runner.invoke(app, args + (["--key", str(session.public_key)] if case.key else []))
        elapsed = time.monotonic() - started
    finally:
        while RESTORE:
            path, data = RESTORE.pop()
            path.unlink() if data is None else path.write_bytes(data)
    assert "Traceback" not in result.output
    report = json.loads(result.stdout)
    assert report["verdict"] == case.verdict, json.dumps(report, indent=1)
    assert result.exit_code == (0 if case.verdict == "PASS" else 1)
    details = "\n".join(report["details"])
    assert case.says in details, details
    if case.name == "untouched, key given":  # a signed run checked with its key: nothing to warn about
        assert report["warnings"] == [] and set(report["checks"].values()) == {"PASS"}, report
    if case.name == "untouched":  # without the key the signature is present but not checked
        assert report["warnings"] == ["signed, but the signature was not checked (pass --key PUBLIC.pem)"]
    assert elapsed < 60, "a check must never hang (FIFOs, /proc)"


def test_the_suite_has_at_least_thirty_cases() -> None:
    assert len(CASES) >= 30 and len({c.name for c in CASES}) == len(CASES)
