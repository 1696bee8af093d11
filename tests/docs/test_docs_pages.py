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


def test_config_plugins_example_passes_the_installed_sklearn_schema() -> None:
    from verifily_core.plugins import registry
    from verifily_core.plugins.settings import check_plugin_settings

    [block] = [b for b in _blocks("config.md", "yaml") if b.startswith("backend: sklearn\nplugins:")]
    config = TrainConfig.from_dict(
        {"task": "classification", "base_model": "tfidf-logreg", **yaml.safe_load(block)}
    )
    check_plugin_settings(config, registry)
    schema = registry.config_schemas()["sklearn"]
    settings = config.plugin_settings("sklearn", schema)
    assert settings.model_dump() == {"C": 0.5, "max_iter": 200}
    for key, field in schema.model_fields.items():  # the comments state the schema's real defaults
        assert f"(default {field.default})" in block.split(f"{key}:")[1].splitlines()[0]
