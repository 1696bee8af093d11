"""Search spaces of ``verifily tune``: specs parsed, values typed by the config schema, every bad spec
refused with a message naming the key, the value and the fix (before any trial could run)."""

from __future__ import annotations

import itertools
from typing import Any, Dict, List

import pytest
from hypothesis import given
from hypothesis import strategies as st

from verifily_core.config import TrainConfig
from verifily_core.domain.search import SearchSpace, parse_spec, space_from_grid, space_from_specs
from verifily_core.errors import TuneError


def config(**extra: Any) -> TrainConfig:
    return TrainConfig.from_dict(
        {"task": "sft", "base_model": "tiny", "data_paths": {"train": "t.jsonl"}, **extra}
    )


def test_values_take_the_schema_types() -> None:
    space = space_from_specs(
        [
            "training.learning_rate=1e-5,5e-5,2e-4",
            "lora.r=8,16",
            "lora.enabled=true,false",
            "compute.num_gpus=null,2",
            "lora.quantization=none,4bit",
            "training.num_epochs=2,3",
        ],
        config(),
    )
    grid = space.to_dict()
    assert grid["training.learning_rate"] == [1e-5, 5e-5, 2e-4]
    assert all(type(v) is float for v in grid["training.learning_rate"])  # "1e-5" is a float, not text
    assert grid["lora.r"] == [8, 16] and all(type(v) is int for v in grid["lora.r"])
    assert grid["lora.enabled"] == [True, False]
    assert grid["compute.num_gpus"] == [None, 2]
    assert grid["lora.quantization"] == ["none", "4bit"]
    assert grid["training.num_epochs"] == [2.0, 3.0]
    assert all(type(v) is float for v in grid["training.num_epochs"])


def test_text_fields_keep_text_that_looks_like_a_number() -> None:
    space = space_from_specs(["wandb.project=2024,abc"], config())
    assert space.to_dict()["wandb.project"] == ["2024", "abc"]


def test_keys_keep_the_users_order_and_the_grid_is_the_product() -> None:
    space = space_from_specs(["lora.r=8,16,32", "training.learning_rate=1e-5,5e-5"], config())
    assert space.keys == ["lora.r", "training.learning_rate"]
    assert space.size == 6
    combos = space.combinations()
    assert combos == [
        {"lora.r": r, "training.learning_rate": lr} for r, lr in itertools.product([8, 16, 32], [1e-5, 5e-5])
    ]


def test_space_round_trips_through_its_dict() -> None:
    space = space_from_specs(["lora.r=8,16", "lora.dropout=0.0,0.1"], config())
    assert SearchSpace.from_dict(space.to_dict()) == space


def test_python_grids_are_typed_like_specs() -> None:
    from_grid = space_from_grid({"training.learning_rate": ["1e-5", 5e-5], "lora.r": [8, "16"]}, config())
    from_specs = space_from_specs(["training.learning_rate=1e-5,5e-5", "lora.r=8,16"], config())
    assert from_grid == from_specs


@pytest.mark.parametrize(
    ("specs", "expected"),
    [
        (
            ["training.learnin_rate=0.001,0.005"],
            r"unknown config key 'training\.learnin_rate'.*Did you mean 'training\.learning_rate'",
        ),
        (
            ["learning_rate=1e-4"],
            r"unknown config key 'learning_rate'.*Did you mean 'training\.learning_rate'",
        ),
        (["lora.rank=8"], r"unknown config key 'lora\.rank'"),
        (["lora.r=abc,4"], r"'abc' is not a valid value for 'lora\.r'.*integer"),
        (
            ["training.learning_rate=fast"],
            r"'fast' is not a valid value for 'training\.learning_rate'.*number",
        ),
        (["lora.r=0,8"], r"'0' is not a valid value for 'lora\.r'.*greater than or equal to 1"),
        (["lora.enabled=maybe"], r"'maybe' is not a valid value for 'lora\.enabled'"),
        (["lora.r=4,4.0"], r"value 4 of 'lora\.r' is listed twice"),
        (["lora.r=8", "lora.r=16"], r"'lora\.r' is searched twice"),
        (["lora.r="], r"no values after '='"),
        (["lora.r=4,,8"], r"value number 2 is empty"),
        (["lora.r"], r"expected \"dotted\.key=value1,value2"),
        (["=4,8"], r"expected \"dotted\.key=value1,value2"),
        (["training=1"], r"'training' is a config section.*training\.num_epochs"),
        (["name=a,b"], r"'name' cannot be searched"),
        (["trackers=tensorboard"], r"not a valid value for 'trackers'"),
        ([], r"Nothing to search"),
    ],
)
def test_bad_specs_are_named(specs: List[str], expected: str) -> None:
    with pytest.raises(TuneError, match=expected):
        space_from_specs(specs, config())


@pytest.mark.parametrize(
    ("grid", "expected"),
    [
        ({"lora.r": 8}, r"param_grid\['lora\.r'\] must be a list"),
        ({"lora.r": "8,16"}, r"must be a list"),
        ({"lora.r": []}, r"lists no values"),
        ({"lora.rr": [8]}, r"unknown config key 'lora\.rr'.*Did you mean 'lora\.r'"),
    ],
)
def test_bad_python_grids_are_named(grid: Dict[str, Any], expected: str) -> None:
    with pytest.raises(TuneError, match=expected):
        space_from_grid(grid, config())


def test_bad_value_error_shows_the_current_value_as_a_hint() -> None:
    with pytest.raises(TuneError) as info:
        space_from_specs(["lora.r=abc"], config(lora={"r": 12}))
    assert info.value.hint is not None and "12" in info.value.hint


@pytest.mark.parametrize(
    ("spec", "key", "values"),
    [
        ("lora.r=8,16", "lora.r", ["8", "16"]),
        ("  lora.r = 8 , 16 ", "lora.r", ["8", "16"]),
        ("wandb.project=a=b", "wandb.project", ["a=b"]),
    ],
)
def test_parse_spec(spec: str, key: str, values: List[str]) -> None:
    assert parse_spec(spec) == (key, values)


@given(
    st.lists(st.integers(min_value=1, max_value=512), min_size=1, max_size=6, unique=True),
    st.lists(st.sampled_from([1e-5, 5e-5, 1e-4, 2e-4, 5e-4, 1e-3]), min_size=1, max_size=4, unique=True),
)
def test_grid_size_is_the_product_of_distinct_values(ranks: List[int], rates: List[float]) -> None:
    space = space_from_specs(
        [f"lora.r={','.join(map(str, ranks))}", f"training.learning_rate={','.join(repr(r) for r in rates)}"],
        config(),
    )
    combos = space.combinations()
    assert space.size == len(ranks) * len(rates) == len(combos)
    assert len({tuple(c.items()) for c in combos}) == len(combos)
    assert space.to_dict() == {"lora.r": ranks, "training.learning_rate": rates}
