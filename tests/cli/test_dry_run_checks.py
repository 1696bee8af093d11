"""``train --dry-run`` refuses what the real run would refuse (device, model files, truncation), on a
real tiny model through real subprocesses, and names its folder so the real run keeps the plain id."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any, Dict, List

import pytest
import yaml
from helpers.cli import run_verifily
from helpers.data import reverse_rows
from helpers.runs import tiny_workspace

pytestmark = pytest.mark.timeout(300)


@pytest.fixture(scope="module")
def workspace(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tiny_workspace(tmp_path_factory.mktemp("dry"), train=reverse_rows(16, 1))


def _config(root: Path, **top: Any) -> Path:
    cfg: Dict[str, Any] = {
        "task": "sft",
        "base_model": "tiny",
        "name": "drytest",
        "data_paths": {"train": "train.jsonl"},
        "training": {"max_seq_length": 64},
        "compute": {"device": "cpu"},
        "output": {"dir": "runs"},
        **top,
    }
    path = root / "train.yaml"
    path.write_text(yaml.safe_dump(cfg))
    return path


def _folders(root: Path) -> List[str]:
    runs = root / "runs"
    return sorted(p.name for p in runs.iterdir()) if runs.is_dir() else []


def test_a_valid_dry_run_reports_device_and_truncation_in_a_dryrun_folder(workspace: Path) -> None:
    proc = run_verifily("train", "--config", str(_config(workspace)), "--dry-run", "--json")
    assert proc.returncode == 0, proc.stderr
    report = json.loads(proc.stdout)
    assert report["run_id"].startswith("dryrun_") and report["run_id"].endswith("_drytest")
    checks = report["checks"]
    assert checks["model_checked"] is True and checks["device"] == "cpu"
    assert checks["train_rows"] == 16 and checks["truncated_rows"] == 0


@pytest.mark.parametrize(
    ("flags", "expected"),
    [
        (["--set", "training.max_seq_length=8"], ["truncation", "max_seq_length=8", "16 of 16 training"]),
        (["--device", "cuda"], ["cuda"]),
    ],
)
def test_the_dry_run_refuses_what_the_real_run_would(
    workspace: Path, flags: List[str], expected: List[str]
) -> None:
    if "cuda" in flags:
        import torch

        if torch.cuda.is_available():
            pytest.skip("this machine has CUDA")
    before = _folders(workspace)
    proc = run_verifily("train", "--config", str(_config(workspace)), "--dry-run", *flags)
    assert proc.returncode == 2, proc.stdout + proc.stderr
    assert "Traceback" not in proc.stderr
    for text in expected:
        assert text in proc.stderr, proc.stderr
    assert _folders(workspace) == before  # a failed dry run leaves no folder


def test_an_uncached_hub_id_offline_fails_the_dry_run(workspace: Path) -> None:
    cfg = _config(workspace, base_model="no-such-org/no-such-model-xyz")
    proc = run_verifily("train", "--config", str(cfg), "--dry-run", env={"HF_HUB_OFFLINE": "1"})
    assert proc.returncode == 2, proc.stdout + proc.stderr
    assert "no-such-model-xyz" in proc.stderr and "hf download" in proc.stderr
    assert "huggingface-cli" not in proc.stderr


def test_no_model_check_imports_no_torch_and_skips_the_tokenizer(workspace: Path) -> None:
    cfg = _config(workspace, base_model="no-such-org/no-such-model-xyz")
    code = (
        "import sys, runpy\n"
        f"sys.argv = ['verifily', 'train', '--config', {str(cfg)!r}, '--dry-run', '--no-model-check']\n"
        "try:\n    runpy.run_module('verifily_train', run_name='__main__')\n"
        "except SystemExit as e:\n    assert not e.code, e.code\n"
        "print('TORCH', 'torch' in sys.modules, 'transformers' in sys.modules)\n"
    )
    proc = subprocess.run(
        [sys.executable, "-c", code],
        capture_output=True,
        text=True,
        timeout=120,
        env={**os.environ, "HF_HUB_OFFLINE": "1"},
    )
    assert proc.returncode == 0, proc.stderr
    assert "TORCH False False" in proc.stdout and "not checked" in proc.stdout
