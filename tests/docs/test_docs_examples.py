"""The Python examples of the docs run as written, in a workspace shaped like the ones they assume.

The workspace has what the pages name: ``data/human.jsonl``, ``data/synthetic.jsonl``, ``data/test.jsonl``,
``train.yaml`` (a tiny local llama, both sources as training files) and evaluated runs reachable as
``runs/run_A``, ``runs/run_B`` and ``runs/run_abc``.
"""

from __future__ import annotations

import contextlib
import io
import os
import re
from pathlib import Path
from typing import Any, Dict, List

import pytest
from helpers.data import reverse_rows, write_jsonl
from helpers.runs import tiny_sft_config, tiny_workspace, write_config
from typer.testing import CliRunner

from verifily_cli.app import app

pytestmark = pytest.mark.slow
ROOT = Path(__file__).resolve().parents[2]
PAGES = [
    "data.md",
    "training.md",
    "evaluation.md",
    "compare.md",
    "reproducibility.md",
    "tune.md",
    "attribute.md",
]


def _tagged(n: int, seed: int, source: str) -> List[Dict[str, Any]]:
    return [{**r, "tags": {**r["tags"], "source": source}} for r in reverse_rows(n, seed)]


@pytest.fixture(scope="module")
def workspace(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tiny_workspace(tmp_path_factory.mktemp("docs"))
    write_jsonl(root / "data" / "human.jsonl", _tagged(16, 1, "human"))
    write_jsonl(root / "data" / "synthetic.jsonl", _tagged(16, 2, "synthetic"))
    write_jsonl(root / "data" / "val.jsonl", _tagged(8, 3, "human"))
    write_jsonl(root / "data" / "test.jsonl", _tagged(6, 4, "human") + _tagged(6, 5, "synthetic"))
    config = tiny_sft_config(
        seed=1,
        data_paths={
            "train": ["data/human.jsonl", "data/synthetic.jsonl"],
            "val": "data/val.jsonl",
            "test": "data/test.jsonl",
        },
        training={"eval_steps": 2, "save_steps": 1000, "logging_steps": 2},
        eval={
            "hard_examples": 3,
            "batch_size": 12,
            "generation_max_new_tokens": 6,
            "generation_num_beams": 1,
        },
    )
    write_config(root / "train.yaml", config)
    runner = CliRunner()
    for alias, source in (("run_A", "human"), ("run_B", "synthetic")):
        result = runner.invoke(
            app,
            [
                "train",
                "--config",
                str(root / "train.yaml"),
                "--name",
                f"docs_{alias}",
                "--set",
                f"data_paths.train=data/{source}.jsonl",
            ],
        )
        assert result.exit_code == 0, result.output
        [made] = [p for p in (root / "runs").iterdir() if p.name.endswith(f"docs_{alias}")]
        (root / "runs" / alias).symlink_to(made.name)
    (root / "runs" / "run_abc").symlink_to("run_A")
    return root


def _python_blocks(page: str) -> List[str]:
    text = (ROOT / "docs" / page).read_text(encoding="utf-8")
    return re.findall(r"```python\n(.*?)```", text, flags=re.S)


@pytest.mark.parametrize("page", PAGES)
def test_python_examples_run_as_written(page: str, workspace: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    blocks = _python_blocks(page)
    assert blocks, f"docs/{page} has no python example"
    monkeypatch.chdir(workspace)
    printed = io.StringIO()
    for code in blocks:
        with contextlib.redirect_stdout(printed):
            exec(compile(code, f"docs/{page}", "exec"), {"__name__": "__docs__"})  # noqa: S102
    assert printed.getvalue().strip(), f"the examples of docs/{page} printed nothing"
    assert "Traceback" not in printed.getvalue()
    assert os.getcwd() == str(workspace)
