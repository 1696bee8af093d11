"""The docs stay true: linked pages exist, the config reference parses and matches the schema."""

from __future__ import annotations

import re
from pathlib import Path

import yaml

from verifily_core.config import TrainConfig

ROOT = Path(__file__).resolve().parents[2]


def _blocks(page: str, lang: str) -> list[str]:
    text = (ROOT / "docs" / page).read_text(encoding="utf-8")
    return re.findall(rf"```{lang}\n(.*?)```", text, flags=re.S)


def test_readme_links_resolve() -> None:
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    links = re.findall(r"\]\((docs/[^)]+)\)", readme)
    assert links
    missing = [link for link in links if not (ROOT / link).is_file()]
    assert not missing, missing


def test_config_reference_is_the_schema_with_its_defaults() -> None:
    [full] = [b for b in _blocks("config.md", "yaml") if "full schema" in b]
    data = yaml.safe_load(full)
    config = TrainConfig.from_dict(data)
    defaults = TrainConfig(task=data["task"], base_model=data["base_model"]).to_dict()
    defaults["data_paths"]["train"] = data["data_paths"]["train"]
    assert config.to_dict() == defaults
    documented = set(config.flat())
    assert documented == set(TrainConfig(task="sft", base_model="x").flat())
