"""Output read in logs and CI (issue 18): help like a well-kept CLI's and tables that keep their
identifiers whole, through real ``verifily`` processes with COLUMNS unset and stdout a pipe."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import List

import pytest
import yaml
from helpers.cli import run_verifily
from helpers.data import sentiment_rows

pytestmark = pytest.mark.timeout(300)


def commands() -> List[str]:
    """Every visible command and sub-command, as ``verifily --help`` lists them."""
    found = []
    for line in run_verifily("--help").stdout.splitlines():
        m = re.match(r"^[\s│]*([a-z][a-z0-9-]+)\s{2,}\S", line)
        if m:
            found.append(m.group(1))
    return found


def test_help_shows_no_value_type_for_flags_and_key_value_for_set() -> None:
    names = commands()
    assert {"train", "eval-cmd", "compare-cmd", "tune", "attribute", "dashboard", "billing"} <= set(names)
    texts = {name: run_verifily(name, "--help").stdout for name in names}
    texts["billing flush"] = run_verifily("billing", "flush", "--help").stdout
    texts["verifily"] = run_verifily("--help").stdout
    for name, text in texts.items():
        assert "<bool>" not in text and "list[" not in text, f"{name} --help:\n{text}"
    train = texts["train"]
    assert re.search(r"--dry-run\s+Check everything", train)  # no type between flag and help
    assert re.search(r"--set\s+KEY=VALUE", train) and "Repeatable" in train
    assert option_help(texts["tune"], "--metric").count("default") == 1
    assert "required for random and tpe" in option_help(texts["tune"], "--max-trials")


def option_help(text: str, option: str) -> str:
    """The help of one option as one line, however the table wrapped it."""
    lines = text.splitlines()
    start = next(i for i, line in enumerate(lines) if re.search(rf"[│\s]{option}\s", line))
    block = [lines[start]]
    for line in lines[start + 1 :]:
        if re.match(r"^[│\s]*-", line) or not line.strip(" │╰─"):
            break
        block.append(line)
    return " ".join(" ".join(block).replace("│", " ").split())


def test_the_tune_table_keeps_run_ids_whole_when_piped(tmp_path: Path) -> None:
    rows = sentiment_rows(40, 1, "reviews")
    (tmp_path / "train.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    (tmp_path / "val.jsonl").write_text(
        "".join(json.dumps(r) + "\n" for r in sentiment_rows(16, 2, "reviews"))
    )
    cfg = {
        "task": "classification",
        "backend": "sklearn",
        "base_model": "tfidf-logreg",
        "data_paths": {"train": "train.jsonl", "val": "val.jsonl"},
        "output": {"dir": "runs"},
    }
    (tmp_path / "tune.yaml").write_text(yaml.safe_dump(cfg))
    proc = run_verifily(
        "tune",
        "--config",
        "tune.yaml",
        "--param",
        "training.learning_rate=0.001,0.002",
        "--param",
        "training.weight_decay=0.0,0.01",
        cwd=tmp_path,
    )
    assert proc.returncode == 0, proc.stderr
    [results] = list((tmp_path / "runs").glob("tune_*/tune_results.json"))
    ids = [t["run_id"] for t in json.loads(results.read_text())["trials"]]
    assert len(ids) == 4
    lines = proc.stdout.splitlines()
    assert all(any(run_id in line for line in lines) for run_id in ids), proc.stdout
    header = next(line for line in lines if "Trial " in line and "Status" in line)
    assert "training.learning_rate" in header and "eval_loss" in header
