"""``trust_remote_code`` stays off unless the config turns it on: a model folder that ships its own
Python code (``auto_map`` in config.json) is refused, and the code never runs."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from verifily_core.config import TrainConfig


def _model_with_code(folder: Path, marker: Path) -> Path:
    folder.mkdir()
    (folder / "config.json").write_text(
        json.dumps({"model_type": "evil-net", "auto_map": {"AutoConfig": "evil.EvilConfig"}})
    )
    (folder / "evil.py").write_text(
        f"from pathlib import Path\nPath({str(marker)!r}).touch()\n"
        "from transformers import PretrainedConfig\n"
        "class EvilConfig(PretrainedConfig):\n    model_type = 'evil-net'\n"
    )
    return folder


def test_the_key_defaults_to_false_and_is_recorded_for_the_predictor() -> None:
    config = TrainConfig.from_dict({"task": "sft", "base_model": "m"})
    assert config.trust_remote_code is False
    assert TrainConfig.from_dict(
        {"task": "sft", "base_model": "m", "trust_remote_code": True}
    ).trust_remote_code


@pytest.mark.timeout(120)
def test_a_model_that_ships_code_is_refused_and_its_code_never_runs(tmp_path: Path) -> None:
    from verifily_adapters.hf_backend import loading
    from verifily_adapters.hf_backend.references import resolve_reference

    marker = tmp_path / "ran"
    ref = resolve_reference(str(_model_with_code(tmp_path / "model", marker)))
    assert ref.trust_remote_code is False
    with pytest.raises(Exception) as refused:
        loading.load_model(ref, loading.CAUSAL_LM)
    cause = refused.value.__cause__ or refused.value
    assert "trust_remote_code" in str(cause) or "custom code" in str(cause), cause
    assert not marker.exists(), "the model folder's Python code ran"
