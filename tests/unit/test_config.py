"""TrainConfig errors and overrides (verifily_core.config): each bad input names its dotted key."""

from __future__ import annotations

from pathlib import Path
from typing import Any, Dict

import pytest
import yaml
from hypothesis import given, settings
from hypothesis import strategies as st

from verifily_core.config import TrainConfig
from verifily_core.errors import ConfigError

BASE = "task: sft\nbase_model: tiny\n"


def _load(tmp_path: Path, text: str) -> TrainConfig:
    path = tmp_path / "train.yaml"
    path.write_text(text, encoding="utf-8")
    return TrainConfig.from_yaml(path)


def _error(tmp_path: Path, text: str) -> ConfigError:
    with pytest.raises(ConfigError) as exc:
        _load(tmp_path, text)
    assert str(tmp_path / "train.yaml") in str(exc.value)
    return exc.value


def test_the_guides_quick_start_config_loads(tmp_path: Path) -> None:
    config = _load(
        tmp_path,
        BASE + "seed: 42\ndata_paths:\n  train: data/train.jsonl\n"
        "training:\n  learning_rate: 2e-4\n  num_epochs: 3\nlora:\n  r: 16\n",
    )
    lr = config.training.learning_rate
    assert lr == pytest.approx(2e-4) and isinstance(lr, float)
    assert config.resolve_path(config.data_paths.train_files[0]) == tmp_path / "data" / "train.jsonl"


@pytest.mark.parametrize(
    ("text", "key", "suggestion"),
    [
        (BASE + "trainig:\n  num_epochs: 3\n", "trainig", "Did you mean 'training'?"),
        (BASE + "training:\n  learning_rat: 0.1\n", "training.learning_rat", "Did you mean 'learning_rate'?"),
        (BASE + "lora:\n  rank: 8\n", "lora.rank", ""),
    ],
)
def test_unknown_key_with_did_you_mean(tmp_path: Path, text: str, key: str, suggestion: str) -> None:
    err = _error(tmp_path, text)
    assert err.key == key
    assert f"Unknown config key '{key}'" in str(err) and suggestion in str(err)
    assert err.hint and "Keys allowed here" in err.hint


@pytest.mark.parametrize(
    ("text", "key", "shown"),
    [
        (BASE + "training:\n  batch_size: many\n", "training.batch_size", "'many'"),
        (BASE + "training:\n  learning_rate: fast\n", "training.learning_rate", "'fast'"),
        (BASE + "lora:\n  r: 16.5\n", "lora.r", "16.5"),
        (BASE + "lora:\n  r: true\n", "lora.r", "true"),
        (BASE + "training:\n  lr_scheduler: wobbly\n", "training.lr_scheduler", "'wobbly'"),
        (BASE + "compute:\n  device: gpu\n", "compute.device", "'gpu'"),
        (BASE + "training: 5\n", "training", "5"),
    ],
)
def test_wrong_type_or_value_shows_the_value(tmp_path: Path, text: str, key: str, shown: str) -> None:
    err = _error(tmp_path, text)
    assert err.key == key
    assert f"Invalid value for '{key}'" in str(err) and shown in str(err)


@pytest.mark.parametrize(("text", "key"), [("base_model: x\n", "task"), ("task: sft\n", "base_model")])
def test_missing_required_key(tmp_path: Path, text: str, key: str) -> None:
    err = _error(tmp_path, text)
    assert err.key == key and f"Missing required config key '{key}'" in str(err)


def test_yaml_syntax_error_has_line_and_column(tmp_path: Path) -> None:
    err = _error(tmp_path, BASE + "training:\n  num_epochs: 3\n    batch_size: 8\n")  # line 5 is bad
    assert f"{tmp_path / 'train.yaml'}:5:15: YAML syntax error" in str(err)


def test_empty_and_non_mapping_configs(tmp_path: Path) -> None:
    assert "empty" in str(_error(tmp_path, ""))
    assert "must be a mapping" in str(_error(tmp_path, "- a\n- b\n"))
    with pytest.raises(ConfigError, match="not found"):
        TrainConfig.from_yaml(tmp_path / "missing.yaml")


@pytest.mark.parametrize(
    ("weights", "expected"),
    [
        ("[1.0]", "1 weight(s) but data_paths.train lists 2 file(s)"),
        ("[1.0, 0]", "positive"),
        ("[1.0, -1]", "positive"),
        ("[1.0, .inf]", "positive"),
    ],
)
def test_weights_must_match_train_files_and_be_positive(tmp_path: Path, weights: str, expected: str) -> None:
    err = _error(tmp_path, BASE + f"data_paths:\n  train: [a.jsonl, b.jsonl]\n  weights: {weights}\n")
    assert err.key == "data_paths.weights" and expected in str(err)


def test_quantization_and_task_values(tmp_path: Path) -> None:
    err = _error(tmp_path, BASE + "lora:\n  quantization: 2bit\n")
    assert err.key == "lora.quantization" and "'4bit'" in str(err) and "'2bit'" in str(err)
    err = _error(tmp_path, "task: regression\nbase_model: x\n")
    assert err.key == "task" and "'sft'" in str(err) and "'regression'" in str(err)
    assert _load(tmp_path, BASE + "lora:\n  quantization: null\n").lora.quantization == "none"


# ---------------------------------------------------------------------- overrides


def test_overrides_coerce_to_schema_types() -> None:
    config = TrainConfig.from_dict({"task": "sft", "base_model": "m"})
    new = config.apply_overrides(
        {
            "training.learning_rate": "5e-5",
            "lora.r": "32",
            "lora.target_modules": "[q_proj, v_proj]",
            "name": "2024",
        }
    )
    assert new.training.learning_rate == 5e-5 and new.lora.r == 32
    assert new.lora.target_modules == ["q_proj", "v_proj"]
    assert new.name == "2024"
    assert config.lora.r == 16  # the original is unchanged


@pytest.mark.parametrize(
    ("overrides", "expected"),
    [
        ({"training.lerning_rate": 1}, "Did you mean 'learning_rate'?"),
        ({"training": 1}, "is a section"),
        ({"seed.x": 1}, "is a value, not a section"),
        ({"lora.r": "abc"}, "'abc'"),
    ],
)
def test_bad_overrides(overrides: Dict[str, Any], expected: str) -> None:
    with pytest.raises(ConfigError, match=expected):
        TrainConfig.from_dict({"task": "sft", "base_model": "m"}).apply_overrides(overrides)


_OVERRIDABLE = st.one_of(
    st.tuples(st.just("training.learning_rate"), st.floats(1e-7, 1.0, allow_nan=False)),
    st.tuples(st.just("training.batch_size"), st.integers(1, 512)),
    st.tuples(st.just("lora.r"), st.integers(1, 256)),
    st.tuples(st.just("lora.dropout"), st.floats(0, 0.99)),
    st.tuples(st.just("seed"), st.integers(0, 2**31)),
    st.tuples(st.just("lora.quantization"), st.sampled_from(["none", "4bit", "8bit"])),
    # a YAML null word is the documented way to unset a text field, so it cannot round-trip as text
    st.tuples(
        st.just("name"),
        st.text(min_size=1, max_size=12).filter(lambda s: s.strip() not in {"null", "Null", "NULL", "~"}),
    ),
)


@settings(max_examples=60, deadline=None)
@given(item=_OVERRIDABLE, as_text=st.booleans())
def test_override_round_trip(item: Any, as_text: bool) -> None:
    key, value = item
    given_value = repr(value) if as_text and not isinstance(value, str) else value
    config = TrainConfig.from_dict({"task": "sft", "base_model": "m"}).apply_overrides({key: given_value})
    assert config.flat()[key] == value
    frozen = TrainConfig.from_dict(yaml.safe_load(config.to_yaml()))
    assert frozen.flat()[key] == value and frozen.canonical_json() == config.canonical_json()
