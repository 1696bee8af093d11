"""The option parsing that commands share (``verifily_cli.options``) and the command layout it serves:
comma lists, ``--set``, ``--resume`` refusing flags that would change what it continues, and
``verifily --help`` importing no handler and no use case."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
import yaml
from typer.testing import CliRunner

from verifily_cli.app import app
from verifily_cli.options import refuse_flags_on_resume, set_overrides, split_csv
from verifily_core.errors import ConfigError, TuneError

runner = CliRunner()


def test_split_csv_drops_blanks_and_gives_none_for_nothing() -> None:
    assert split_csv(" a, b,,c ,") == ["a", "b", "c"]
    assert split_csv("") is None and split_csv(None) is None and split_csv(" , ") is None


def test_set_overrides_keeps_everything_after_the_first_equals_sign() -> None:
    assert set_overrides(["lora.alpha=64", " name = a=b"]) == {"lora.alpha": "64", "name": " a=b"}
    assert set_overrides(None) == {}
    for bad in ("lora.alpha", "=3"):
        with pytest.raises(ConfigError, match="--set expects key=value"):
            set_overrides([bad])


def test_a_flag_at_its_default_passes_and_a_changed_one_is_named() -> None:
    flags = {"--config": None, "--strategy": "grid", "--metric": "eval_loss"}
    defaults = {"--strategy": "grid", "--metric": "eval_loss"}
    refuse_flags_on_resume(flags, TuneError, defaults=defaults, resumed="the search", hint="h")
    changed = {**flags, "--config": Path("t.yaml"), "--metric": "f1"}
    with pytest.raises(TuneError) as caught:
        refuse_flags_on_resume(changed, TuneError, defaults=defaults, resumed="the search", hint="h")
    assert caught.value.message == "--resume continues the search; it takes no --config, --metric."
    assert caught.value.hint == "h"


@pytest.mark.parametrize(
    ("args", "named"),
    [
        (["attribute", "--seeds", "3", "--no-control"], "--seeds, --no-control"),
        (["attribute", "--config", "train.yaml", "--set", "seed=1"], "--config, --set/--epochs"),
        (["attribute", "--bootstrap", "50"], "--bootstrap"),
    ],
)
def test_attribute_resume_refuses_flags_by_their_names(args: list[str], named: str, tmp_path: Path) -> None:
    result = runner.invoke(app, [*args, "--resume", str(tmp_path / "attribute_x")])
    assert result.exit_code == 2, result.output
    assert f"it takes no {named}." in result.output and "attribute_spec.json" in result.output


def test_tune_resume_refuses_a_changed_flag_but_not_one_at_its_default(tmp_path: Path) -> None:
    folder = str(tmp_path / "tune_x")
    result = runner.invoke(app, ["tune", "--param", "lora.r=8", "--strategy", "tpe", "--resume", folder])
    assert result.exit_code == 2 and "it takes no --param, --strategy." in result.output, result.output
    result = runner.invoke(app, ["tune", "--strategy", "grid", "--resume", folder])
    assert result.exit_code == 2 and "Tune folder not found" in result.output, result.output


def test_attribute_resume_with_default_flags_goes_on_to_the_folder(tmp_path: Path) -> None:
    result = runner.invoke(app, ["attribute", "--seeds", "1", "--resume", str(tmp_path / "attribute_x")])
    assert result.exit_code == 2 and "Attribute folder not found" in result.output, result.output


def test_train_resume_with_dry_run_is_a_clear_error(tmp_path: Path) -> None:
    """``--dry-run`` checks a new run's config; a resumed run has none (it was once an internal error)."""
    (tmp_path / "data").mkdir()
    (tmp_path / "model").mkdir()
    (tmp_path / "model" / "config.json").write_text(json.dumps({"model_type": "llama"}))
    rows = [
        {"instruction": "Reverse.", "input": f"{a} {b}", "output": f"{b} {a}"} for a, b in zip("abc", "def")
    ]
    (tmp_path / "data" / "train.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    config = {
        "task": "sft",
        "base_model": "model",
        "data_paths": {"train": "data/train.jsonl"},
        "output": {"dir": "runs/"},
    }
    (tmp_path / "train.yaml").write_text(yaml.safe_dump(config))
    first = runner.invoke(
        app, ["train", "--config", str(tmp_path / "train.yaml"), "--dry-run", "--no-model-check"]
    )
    assert first.exit_code == 0, first.output
    [run] = list((tmp_path / "runs").iterdir())
    result = runner.invoke(app, ["train", "--resume", str(run), "--dry-run"])
    assert result.exit_code == 2, result.output
    assert (
        "--resume continues a run that already started" in result.output
        and "Internal error" not in result.output
    )


@pytest.mark.timeout(120)
def test_help_imports_no_handler_and_no_use_case() -> None:
    """Commands import their handler inside the function: ``--help`` must stay instant."""
    code = (
        "import sys\n"
        "from typer.testing import CliRunner\n"
        "from verifily_cli.app import app\n"
        "for args in (['--help'], ['train', '--help'], ['tune', '--help'], ['billing', 'flush', '--help']):\n"
        "    assert CliRunner().invoke(app, args).exit_code == 0, args\n"
        "loaded = [m for m in sys.modules if m.startswith(('verifily_cli.handlers', 'verifily_core.services',"
        " 'verifily_core.bootstrap', 'verifily_core.config', 'verifily_adapters', 'torch', 'optuna'))]\n"
        "print('LOADED', sorted(loaded))\n"
    )
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    assert "LOADED []" in proc.stdout, proc.stdout
