"""docs/plugins.md cannot drift: its quoted code is the real code, its names are the real names.

A fenced ``python`` or ``toml`` block right after a ``<!-- quote: <path> -->`` line must appear
verbatim in that file (path relative to the repository root); any other python block must at least
compile. The page's ``plugins:`` config example is checked against the installed sklearn plugin,
and the error it shows for a bad value is the one ``verifily train`` prints.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import List, Optional, Tuple

import pytest
import yaml
from typer.testing import CliRunner

from verifily_cli.app import app
from verifily_core.config import TrainConfig
from verifily_core.plugins import hookspecs, registry
from verifily_core.plugins.settings import check_plugin_settings
from verifily_core.ports import ArtifactStore, BillingSink, ModelBackend, Tracker

ROOT = Path(__file__).resolve().parents[2]
DOC = ROOT / "docs" / "plugins.md"
BLOCK = re.compile(
    r"(?:^<!-- quote: (?P<path>\S+) -->\n)?^```(?P<lang>python|toml)\n(?P<code>.*?)^```", re.S | re.M
)
MUST_QUOTE = (
    "examples/verifily-sklearn/src/verifily_sklearn/hooks.py",
    "examples/verifily-sklearn/src/verifily_sklearn/backend.py",
    "examples/verifily-sklearn/src/verifily_sklearn/settings.py",
    "examples/verifily-sklearn/pyproject.toml",
    "examples/verifily-sklearn/tests/test_conformance.py",
)


def blocks() -> List[Tuple[Optional[str], str, str]]:
    """(quoted path or None, language, code) for every python/toml block of the page."""
    return [(m["path"], m["lang"], m["code"]) for m in BLOCK.finditer(DOC.read_text(encoding="utf-8"))]


QUOTED = [(path, code) for path, _, code in blocks() if path]


def test_the_page_quotes_every_file_of_the_worked_example() -> None:
    assert len(QUOTED) >= 3
    assert set(MUST_QUOTE) <= {path for path, _ in QUOTED}


@pytest.mark.parametrize(("path", "code"), QUOTED, ids=[f"{p}#{i}" for i, (p, _) in enumerate(QUOTED)])
def test_quoted_block_is_verbatim_in_its_file(path: str, code: str) -> None:
    source = ROOT / path
    assert source.is_file(), f"docs/plugins.md quotes {path}, which does not exist"
    assert code.strip(), f"empty quote of {path}"
    assert code in source.read_text(encoding="utf-8"), (
        f"docs/plugins.md quotes {path}, but the file no longer contains this block:\n{code}"
    )


def test_unquoted_python_blocks_compile() -> None:
    compiled = [
        compile(code, str(DOC), "exec") for path, lang, code in blocks() if path is None and lang == "python"
    ]
    if not compiled:
        pytest.skip("docs/plugins.md has no python block of its own (every block is quoted from a real file)")
    assert all(code.co_filename == str(DOC) for code in compiled)


def test_every_hook_and_port_file_the_page_names_exists() -> None:
    text = DOC.read_text(encoding="utf-8")
    hooks = {n for n, obj in vars(hookspecs).items() if hasattr(obj, f"{hookspecs.PROJECT}_spec")}
    named = set(re.findall(r"verifily_(?:register|plugin)_\w+", text))
    assert hooks <= named, f"docs/plugins.md does not name the hooks {sorted(hooks - named)}"
    assert named - hooks == MISSPELT_EXAMPLES, "docs/plugins.md names a hook that does not exist"
    for port in (ModelBackend, ArtifactStore, Tracker, BillingSink):
        assert port.__name__ in text
    for ref in re.findall(r"`(verifily_core/[\w/]+\.py)`", text):
        assert (ROOT / ref).is_file(), f"docs/plugins.md names {ref}, which does not exist"
    for link in re.findall(r"\]\(([^)#]+)\)", text):
        assert (DOC.parent / link).exists(), f"docs/plugins.md links to {link}, which does not exist"


MISSPELT_EXAMPLES = {"verifily_register_model_backnd"}  # the page's example of a misspelt hook


def _plugins_example() -> dict:
    [block] = [
        b
        for b in re.findall(r"^```yaml\n(.*?)^```", DOC.read_text(encoding="utf-8"), re.S | re.M)
        if "plugins:" in b
    ]
    data: dict = yaml.safe_load(block)
    return data


def test_the_plugins_section_example_passes_the_installed_plugins_check() -> None:
    config = TrainConfig.from_dict(_plugins_example())
    check_plugin_settings(config, registry)
    assert config.plugins["sklearn"]
    assert "plugins.sklearn" in " ".join(DOC.read_text(encoding="utf-8").split())


def test_the_error_shown_for_a_bad_value_is_what_train_prints(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    [shown] = [
        b
        for b in re.findall(r"^```text\n(.*?)^```", DOC.read_text(encoding="utf-8"), re.S | re.M)
        if "plugins.sklearn.C" in b
    ]
    data = _plugins_example()
    data["plugins"]["sklearn"]["C"] = 0
    (tmp_path / "train.yaml").write_text(yaml.safe_dump(data), encoding="utf-8")
    monkeypatch.chdir(tmp_path)
    result = CliRunner().invoke(
        app, ["train", "--config", "train.yaml", "--dry-run"], env={"COLUMNS": "2000"}
    )
    assert result.exit_code == 2
    assert result.output.strip() == shown.strip()
