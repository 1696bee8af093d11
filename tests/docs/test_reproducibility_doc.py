"""docs/reproducibility.md's signing commands run as written, in order, on a real (sklearn) run.

The page's ``bash`` blocks under "Signed runs" are executed through the CLI in a workspace with a
``train.yaml``; after the page's ``train`` command the new run is reachable as ``runs/run_abc``, the
name the page uses. Then the signed run is forged consistently and ``--key`` must catch it.
"""

from __future__ import annotations

import json
import random
import re
import shlex
from pathlib import Path
from typing import Dict, List

import pytest
import yaml
from typer.testing import CliRunner

from verifily_cli.app import app
from verifily_core.domain.manifest import scan_run

ROOT = Path(__file__).resolve().parents[2]
runner = CliRunner()


def _commands() -> List[List[str]]:
    text = (ROOT / "docs" / "reproducibility.md").read_text(encoding="utf-8")
    section = text.split("## Signed runs", 1)[1].split("\n## ", 1)[0]
    blocks = re.findall(r"```bash\n(.*?)```", section, flags=re.S)
    return [shlex.split(line) for block in blocks for line in block.splitlines() if line.strip()]


def _rows(n: int) -> List[Dict[str, str]]:
    rng = random.Random(0)
    words = {"positive": ["great", "lovely"], "negative": ["awful", "dull"]}
    return [
        {"text": f"It is {rng.choice(words[lab])}.", "label": lab}
        for lab in ("positive", "negative") * (n // 2)
    ]


def test_the_page_has_the_signing_commands() -> None:
    verbs = [cmd[cmd.index("verifily") + 1] for cmd in _commands()]
    assert verbs[:3] == ["keygen", "train", "reproduce"] and "sign" in verbs


@pytest.mark.timeout(300)
def test_signing_commands_run_as_written(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    for name, n in (("train", 24), ("test", 8)):
        Path(f"{name}.jsonl").write_text("".join(json.dumps(r) + "\n" for r in _rows(n)), encoding="utf-8")
    config = {
        "task": "classification",
        "backend": "sklearn",
        "base_model": "tfidf-logreg",
        "data_paths": {"train": "train.jsonl", "test": "test.jsonl"},
        "output": {"dir": "runs"},
    }
    Path("train.yaml").write_text(yaml.safe_dump(config), encoding="utf-8")
    last = None
    for command in _commands():
        env = dict(w.split("=", 1) for w in command[: command.index("verifily")])
        args = command[command.index("verifily") + 1 :]
        last = runner.invoke(app, args, env=env)
        assert last.exit_code == 0, (command, last.output)
        if args[0] == "train":
            [made] = [p for p in Path("runs").iterdir() if p.is_dir() and not p.is_symlink()]
            Path("runs/run_abc").symlink_to(made.name)
    assert last is not None and "Overall:          PASS" in last.output
    assert "Signature:        PASS" in last.output
    run = Path("runs/run_abc").resolve()
    weights = run / "model" / "pipeline.json"
    weights.write_text(weights.read_text(encoding="utf-8").replace("0.", "0.7", 1), encoding="utf-8")
    hashes = json.loads((run / "hashes.json").read_text(encoding="utf-8"))
    hashes["artifacts"], _ = scan_run(run)
    (run / "hashes.json").write_text(json.dumps(hashes), encoding="utf-8")
    unsigned = runner.invoke(app, ["reproduce", "--run", "runs/run_abc", "--verify-only", "--json"])
    assert json.loads(unsigned.stdout)["checks"]["artifacts"] == "PASS", "the forgery is consistent"
    signed = runner.invoke(
        app, ["reproduce", "--run", "runs/run_abc", "--verify-only", "--key", "keys/signing_key.pub.pem"]
    )
    assert signed.exit_code == 1 and "hashes.json changed after the run was signed" in signed.output
