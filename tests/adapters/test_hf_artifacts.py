"""``adapter_config.json`` must depend on the config alone: PEFT writes ``target_modules`` in the
order of a Python set, which string hash randomisation changes between processes, and ``reproduce``
compares the re-trained adapter folder byte for byte."""

from __future__ import annotations

import json
from pathlib import Path
from types import SimpleNamespace

from verifily_adapters.hf_backend.artifacts import _sort_set_fields


def _saved_in_order(folder: Path, modules: list[str]) -> bytes:
    from peft import LoraConfig

    config = LoraConfig(target_modules=modules, r=4)
    assert isinstance(config.target_modules, set)  # what PEFT makes of the list: its order is lost
    _sort_set_fields(SimpleNamespace(peft_config={"default": config}))
    config.save_pretrained(str(folder))
    return (folder / "adapter_config.json").read_bytes()


def test_target_modules_are_written_in_one_order_whatever_the_set_order(tmp_path: Path) -> None:
    one = _saved_in_order(tmp_path / "a", ["v_proj", "q_proj", "k_proj"])
    other = _saved_in_order(tmp_path / "b", ["k_proj", "q_proj", "v_proj"])
    assert one == other
    assert json.loads(one)["target_modules"] == ["k_proj", "q_proj", "v_proj"]


def test_a_config_without_set_fields_is_left_as_written() -> None:
    config = SimpleNamespace(r=4, target_modules=["v_proj", "q_proj"])
    _sort_set_fields(SimpleNamespace(peft_config={"default": config}))
    assert vars(config) == {"r": 4, "target_modules": ["v_proj", "q_proj"]}
    _sort_set_fields(SimpleNamespace())  # a model that is not a PEFT model: nothing to do
