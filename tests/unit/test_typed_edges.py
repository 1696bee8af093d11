"""Typed edges (issue 17): what a type checker sees of the packages is what they do at run time.

Why tests: the facade's names load lazily (PEP 562), so type checkers and IDEs see them only through
the ``if TYPE_CHECKING:`` imports beside each lazy table; a name added to one and not the other, a
facade function that slides back to ``Any``, a ``py.typed`` left out of the wheel or a second copy of
the version string all pass every behavioural test and are found here.
"""

from __future__ import annotations

import ast
import importlib
import re
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path
from typing import Dict

import pytest
import tomllib

import verifily_core

ROOT = Path(__file__).resolve().parents[2]
PACKAGES = ("verifily_core", "verifily_adapters", "verifily_cli", "verifily_train")


def _lazy_packages() -> Dict[str, Path]:
    """Every package of ours whose ``__init__`` builds its ``__getattr__`` with ``lazy_getattr``."""
    found = {}
    for package in PACKAGES:
        for init in sorted((ROOT / package).rglob("__init__.py")):
            if "lazy_getattr(" in init.read_text(encoding="utf-8"):
                found[".".join(init.parent.relative_to(ROOT).parts)] = init
    return found


def _type_checking_imports(init: Path) -> Dict[str, str]:
    """``name -> module`` of the ``from module import name as name`` lines under ``if TYPE_CHECKING:``."""
    names: Dict[str, str] = {}
    for node in ast.parse(init.read_text(encoding="utf-8")).body:
        if isinstance(node, ast.If) and isinstance(node.test, ast.Name) and node.test.id == "TYPE_CHECKING":
            for stmt in node.body:
                assert isinstance(stmt, ast.ImportFrom) and stmt.module, f"{init}: only from-imports here"
                for alias in stmt.names:
                    # ``as name``: strict mypy (no implicit re-export) sees only explicit re-exports
                    assert alias.asname == alias.name, f"{init}: write 'import {alias.name} as {alias.name}'"
                    names[alias.name] = stmt.module
    return names


def test_type_checking_imports_match_each_lazy_table() -> None:
    lazy = _lazy_packages()
    assert {"verifily_core", "verifily_train"} <= set(lazy), lazy
    for package, init in lazy.items():
        table = importlib.import_module(package)._EXPORTS
        assert _type_checking_imports(init) == table, (
            f"{init.relative_to(ROOT)}: the names under TYPE_CHECKING and their modules must be the "
            "lazy table's (_EXPORTS), or type checkers see other names than the code serves"
        )


# The guide's section 6 (Python API) as a user writes it; each ``# reveals`` names the type that the
# line's ``reveal_type`` must show (its last dotted part), so a function that returns ``Any`` fails.
GUIDE_SCRIPT = """\
from verifily_train import (
    TrainConfig, train, evaluate, compare, verify,
    EvalResult, CompareResult, ReproduceResult,
    BillingTracker, run_tuning, load_run, __version__,
)
from verifily_train.billing import UsageRecord
from verifily_train.compare import compare as compare_from_module, format_comparison
from verifily_train.dataset import DatasetVersion, load_multi_jsonl
from verifily_train.tuner import run_tuning as run_tuning_from_module
import verifily_core

config = TrainConfig.from_yaml("train.yaml")
reveal_type(config)  # reveals TrainConfig
run = train(config, training__learning_rate=5e-5)
reveal_type(run)  # reveals TrainRun
reveal_type(run.reproducibility_hash)  # reveals str
result = evaluate(
    run_path=run.artifact_path,
    test_data="data/test.jsonl",
    metrics=["exact_match", "f1"],
    slice_by=["source", "difficulty"],
    hard_examples_n=50,
)
reveal_type(result)  # reveals EvalResult
comparison = compare(run_paths=["runs/run_A", "runs/run_B"], metric="f1", slice_by="source")
reveal_type(comparison)  # reveals CompareResult
reveal_type(compare_from_module(["runs/run_A", "runs/run_B"]))  # reveals CompareResult
reveal_type(format_comparison(comparison, fmt="table"))  # reveals str
checked = verify("runs/run_abc")
reveal_type(checked)  # reveals ReproduceResult
best = run_tuning(
    config_path="train.yaml",
    param_grid={"training.learning_rate": [1e-5, 5e-5], "lora.r": [8, 16]},
    strategy="grid",
    max_trials=None,
    metric="eval_loss",
)
reveal_type(best)  # reveals BestTrial
reveal_type(best["run_id"])  # reveals str | None
reveal_type(run_tuning_from_module("train.yaml", {"lora.r": [8, 16]}))  # reveals BestTrial
loaded = load_run(run.artifact_path)
reveal_type(loaded)  # reveals LoadedRun
dsv = DatasetVersion.from_local_paths(train_path="data/train.jsonl", task="sft", val_path="data/val.jsonl")
reveal_type(dsv)  # reveals DatasetVersion
rows = load_multi_jsonl(paths=["data/set_a.jsonl", "data/set_b.jsonl"], weights=[0.5, 0.5])
tracker = BillingTracker(run_id="run_abc", artifact_path="runs/run_abc")
tracker.add_hook(lambda record: print(record.event, record.gpu_hours))
tracker.start(event="train_start")
usage = tracker.end(event="train_end", tokens_processed=1_000_000, train_rows=5000)
reveal_type(usage)  # reveals UsageRecord
reveal_type(__version__)  # reveals str
records: list[UsageRecord] = [usage]
typed = (EvalResult, CompareResult, ReproduceResult, rows, records)


def on_failure(error: verifily_core.VerifilyError, record: verifily_core.RunRecord) -> None:
    reveal_type(error)  # reveals VerifilyError
    reveal_type(record)  # reveals RunRecord
"""

# numpy, torch & co. are not what this test is about and take mypy half a minute to read: skipped.
# mypy_path: an editable install is found through an import hook, which mypy does not run.
MYPY_INI = """\
[mypy]
strict = True
mypy_path = {root}
follow_imports = silent
plugins = pydantic.mypy

[mypy-torch.*,transformers.*,peft.*,accelerate.*,safetensors.*,tokenizers.*,numpy.*,optuna.*,sqlalchemy.*,matplotlib.*,huggingface_hub.*,typer.*,rich.*,pluggy.*,httpx.*,fsspec.*]
follow_imports = skip
"""


@pytest.mark.timeout(240)
def test_the_guides_python_api_reveals_the_domain_types(tmp_path: Path) -> None:
    script = tmp_path / "guide_api.py"
    script.write_text(GUIDE_SCRIPT, encoding="utf-8")
    (tmp_path / "mypy.ini").write_text(MYPY_INI.format(root=ROOT), encoding="utf-8")
    proc = subprocess.run(
        [sys.executable, "-m", "mypy", "--config-file", "mypy.ini", "--cache-dir", "cache", "guide_api.py"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=230,
    )
    revealed: Dict[int, str] = {}
    errors = []
    for line in proc.stdout.splitlines():
        found = re.match(r'guide_api\.py:(\d+): note: Revealed type is "(.*)"$', line)
        if found:
            revealed[int(found.group(1))] = found.group(2)
        elif line.startswith("guide_api.py:") and ": error:" in line:
            errors.append(line)
    assert not errors, "the guide's Python API does not type-check:\n" + "\n".join(errors)
    expected = {
        number: line.split("# reveals ")[1]
        for number, line in enumerate(GUIDE_SCRIPT.splitlines(), start=1)
        if "# reveals " in line
    }
    assert set(revealed) == set(expected), proc.stdout + proc.stderr
    for number, want in expected.items():
        got = revealed[number]
        shown = re.sub(r"[\w.]+\.(\w+)", r"\1", got)  # drop module paths: TrainRun, not a.b.TrainRun
        assert "Any" not in got and want in shown, f"line {number}: revealed {got!r}, want {want!r}"


def test_py_typed_ships_in_each_package_of_the_built_wheel(tmp_path: Path) -> None:
    """A real wheel, built by pip from a copy of what packaging reads (the shared tree stays clean)."""
    source = tmp_path / "src"
    source.mkdir()
    for name in ("pyproject.toml", "README.md"):
        shutil.copy(ROOT / name, source / name)
    for package in PACKAGES:
        assert (ROOT / package / "py.typed").is_file(), f"{package}/py.typed is missing"
        shutil.copytree(ROOT / package, source / package, ignore=shutil.ignore_patterns("__pycache__"))
    proc = subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "--no-index", "-q"]
        + ["-w", str(tmp_path / "dist"), str(source)],
        capture_output=True,
        text=True,
        timeout=240,
    )
    assert proc.returncode == 0, proc.stderr
    (wheel,) = (tmp_path / "dist").glob("*.whl")
    names = set(zipfile.ZipFile(wheel).namelist())
    assert {f"{p}/py.typed" for p in PACKAGES} <= names, sorted(n for n in names if "py.typed" in n)
    # the wheel's version is read from verifily_core.__version__, the one place it is written
    assert wheel.name.startswith(f"verifily_train-{verifily_core.__version__}-"), wheel.name


def test_the_version_is_written_once() -> None:
    version = verifily_core.__version__
    assert re.fullmatch(r"\d+\.\d+\.\d+\S*", version), version
    with open(ROOT / "pyproject.toml", "rb") as fh:
        pyproject = tomllib.load(fh)
    assert "version" not in pyproject["project"] and "version" in pyproject["project"]["dynamic"]
    assert pyproject["tool"]["setuptools"]["dynamic"]["version"] == {"attr": "verifily_core.__version__"}
    holders = []
    for package in PACKAGES:
        for path in sorted((ROOT / package).rglob("*.py")):
            for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
                if isinstance(node, ast.Constant) and node.value == version:
                    holders.append(str(path.relative_to(ROOT)))
    assert holders == ["verifily_core/__init__.py"], holders
    # the installed ``verifily`` command and ``python -m verifily_train`` both say it
    for command in (
        [str(Path(sys.executable).with_name("verifily"))],
        [sys.executable, "-m", "verifily_train"],
    ):
        out = subprocess.run(
            [*command, "--version"], capture_output=True, text=True, timeout=60, check=True
        ).stdout
        assert out == f"verifily, version {version}\n", (command, out)
    assert importlib.import_module("verifily_train").__version__ == version


def test_mypy_checks_the_four_packages_strictly() -> None:
    """``make lint`` and ``make test`` run a bare ``mypy``: what it checks is pyproject's [tool.mypy]."""
    with open(ROOT / "pyproject.toml", "rb") as fh:
        config = tomllib.load(fh)["tool"]["mypy"]
    assert config["strict"] is True and sorted(config["packages"]) == sorted(PACKAGES)
