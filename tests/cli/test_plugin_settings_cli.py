"""Plugins through the real CLI: the sklearn example's ``plugins.sklearn`` section trains what it
says or fails clearly, and a third-party plugin with a misspelt hook is named at load (warning,
``verifily plugins`` row) and on use (exit code 2, no traceback) while other commands keep working.
"""

from __future__ import annotations

import json
import textwrap
from pathlib import Path
from typing import Any, Dict, List

import pytest
import yaml
from helpers.cli import run_verifily
from typer.testing import CliRunner

from verifily_cli.app import app
from verifily_core.conformance import sentiment_examples
from verifily_core.domain.runs import CONFIG_FILE

runner = CliRunner()


def _workspace(root: Path, plugins: Any = None) -> Path:
    for name, n, seed in (("train", 40, 1), ("val", 10, 2)):
        rows = [{"text": ex.text, "label": ex.label} for ex in sentiment_examples(n, seed)]
        (root / f"{name}.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    config: Dict[str, Any] = {
        "task": "classification",
        "backend": "sklearn",
        "base_model": "tfidf-logreg",
        "trackers": [],
        "data_paths": {"train": "train.jsonl", "val": "val.jsonl"},
        "eval": {"enabled": False},
        "output": {"dir": "runs"},
    }
    if plugins is not None:
        config["plugins"] = plugins
    path = root / "train.yaml"
    path.write_text(yaml.safe_dump(config), encoding="utf-8")
    return path


def _train(config: Path, *extra: str) -> Path:
    result = runner.invoke(app, ["train", "--config", str(config), "--json", *extra])
    assert result.exit_code == 0, result.output
    return Path(json.loads(result.stdout)["artifact_path"])


def _weights(run: Path) -> List[float]:
    saved = json.loads((run / "model" / "pipeline.json").read_text(encoding="utf-8"))
    return [abs(x) for row in saved["coef"] for x in row]


@pytest.mark.timeout(120)
def test_the_sklearn_section_reaches_the_model_and_the_frozen_config(tmp_path: Path) -> None:
    config = _workspace(tmp_path, {"sklearn": {"C": 0.01, "max_iter": 50}})
    strong = _train(config)
    weak = _train(config, "--set", "plugins.sklearn.C=100")
    frozen = yaml.safe_load((strong / CONFIG_FILE).read_text(encoding="utf-8"))
    assert frozen["plugins"] == {"sklearn": {"C": 0.01, "max_iter": 50}}
    assert yaml.safe_load((weak / CONFIG_FILE).read_text(encoding="utf-8"))["plugins"]["sklearn"]["C"] == 100
    # C is the inverse regularisation strength: a 10,000-fold larger C fits much larger weights
    assert max(_weights(weak)) > 10 * max(_weights(strong))


@pytest.mark.parametrize(
    ("section", "expected"),
    [
        (
            {"sklearn": {"C": -1}},
            "Invalid value for 'plugins.sklearn.C' in {config}: Input should be greater than 0",
        ),
        ({"sklearn": {"max_iters": 10}}, "Unknown config key 'plugins.sklearn.max_iters' in {config}."),
        (
            {"sklearm": {"C": 1}},
            "Unknown plugin 'sklearm' under 'plugins' in {config}. Did you mean 'sklearn'?",
        ),
    ],
)
def test_a_bad_section_stops_train_with_exit_2_before_anything_runs(
    tmp_path: Path, section: Dict[str, Any], expected: str
) -> None:
    config = _workspace(tmp_path, section)
    result = runner.invoke(app, ["train", "--config", str(config), "--dry-run"], env={"COLUMNS": "1000"})
    assert result.exit_code == 2, result.output
    text = " ".join(result.output.split())
    assert "Error: " + expected.format(config=config) in text and "Traceback" not in text
    assert "Hint:" in text and ("max_iter (int, default 1000)" in text or "Installed plugins:" in text)
    assert not (tmp_path / "runs").exists()


TYPO_PLUGIN = """
from verifily_core.plugins import hookimpl


@hookimpl
def verifily_register_model_backnd():
    from verifily_sklearn.backend import SklearnBackend

    return SklearnBackend
"""


@pytest.mark.timeout(120)
def test_a_misspelt_hook_warns_at_load_lists_an_error_row_and_fails_its_use_with_exit_2(
    tmp_path: Path,
) -> None:
    """A real distribution (dist-info on PYTHONPATH) found by a fresh ``verifily`` process."""
    site = tmp_path / "site"
    info = site / "verifily_typo-0.3.0.dist-info"
    info.mkdir(parents=True)
    (info / "METADATA").write_text("Metadata-Version: 2.1\nName: verifily-typo\nVersion: 0.3.0\n")
    (info / "entry_points.txt").write_text("[verifily]\ntypo = verifily_typo_hooks\n")
    (site / "verifily_typo_hooks.py").write_text(textwrap.dedent(TYPO_PLUGIN))
    env = {"PYTHONPATH": str(site)}
    problem = (
        "plugin 'typo' from distribution verifily-typo 0.3.0 implements 'verifily_register_model_backnd', "
        "which is not a Verifily hook; did you mean 'verifily_register_model_backend'?"
    )

    listed = run_verifily("plugins", "--json", env=env)
    assert listed.returncode == 0, listed.stderr
    assert problem in " ".join(listed.stderr.split())  # the warning at load
    rows = {(r["plugin"], r["name"]): r for r in json.loads(listed.stdout)}
    assert rows[("typo", "typo")]["status"] == "error: unknown hook: " + problem.split(" 0.3.0 ", 1)[1]
    assert rows[("typo", "typo")]["distribution"] == "verifily-typo"
    assert rows[("sklearn", "sklearn")]["status"] == "ok"  # the other plugins keep working

    config = _workspace(tmp_path)
    config.write_text(config.read_text().replace("backend: sklearn", "backend: typo"))
    used = run_verifily("train", "--config", str(config), "--dry-run", env=env)
    assert used.returncode == 2, used.stdout + used.stderr
    text = " ".join(used.stderr.split())
    assert f"Error: Model backend 'typo' is not available: {problem}" in text
    assert "Hint: Rename the hook to one of" in text and "Traceback" not in text
