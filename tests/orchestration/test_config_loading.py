from __future__ import annotations

from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Literal

import pytest

from featurestore.modality import Modality
from orchestration.config_loading import ConfigError, apply_overrides, load_config, merge, parse_config
from orchestration.mmsr_config import MmsrConfig
from orchestration.registry.model_registry import serving_signature
from trainers.models.sampling_options import PARAM_KEYS, SamplingOptions


@dataclass(frozen=True)
class Inner:
    steps: int = 3
    mode: Literal["a", "b"] = "a"
    sizes: tuple[int, ...] = (1, 2)

    def __post_init__(self) -> None:
        if self.steps < 1:
            raise ValueError(f"inner.steps must be >= 1, got {self.steps}")


@dataclass(frozen=True)
class Outer:
    inner: Inner = field(default_factory=Inner)
    name: str = "x"


def test_valid_mapping_becomes_typed_frozen_config() -> None:
    config = parse_config(Outer, {"inner": {"steps": 5, "sizes": [3, 4]}, "name": "y"})
    assert config == Outer(Inner(steps=5, sizes=(3, 4)), "y")
    with pytest.raises(AttributeError):
        config.name = "z"  # type: ignore[misc]


@pytest.mark.parametrize(
    ("data", "expected"),
    [
        ({"inner": {"stepz": 1}}, "unknown config key 'inner.stepz'"),
        ({"nme": 1}, "unknown config key 'nme'"),
        ({"inner": {"steps": "abc"}}, "invalid value for 'inner.steps'"),
        ({"inner": {"mode": "c"}}, "invalid value for 'inner.mode'"),
        ({"inner": {"steps": 0}}, "inner.steps must be >= 1"),
    ],
)
def test_bad_values_give_one_line_naming_the_key(data: dict, expected: str) -> None:
    with pytest.raises(ConfigError) as caught:
        parse_config(Outer, data, "run.yaml")
    message = str(caught.value)
    assert expected in message
    assert message.startswith("run.yaml")
    assert "\n" not in message


def test_yaml_file_then_overrides(tmp_path: Path) -> None:
    path = tmp_path / "c.yaml"
    path.write_text("inner:\n  steps: 7\nname: file\n")
    config = load_config(Outer, path, ["inner.mode=b", "name=cli"], defaults={"inner": {"steps": 2, "sizes": [9]}})
    assert config == Outer(Inner(steps=7, mode="b", sizes=(9,)), "cli")


def test_missing_file_and_bad_yaml(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="config file not found"):
        load_config(Outer, tmp_path / "nope.yaml")
    bad = tmp_path / "bad.yaml"
    bad.write_text("inner: [unclosed\n")
    with pytest.raises(ConfigError, match="not valid YAML"):
        load_config(Outer, bad)


def test_override_syntax_errors_and_merge() -> None:
    with pytest.raises(ConfigError, match="expected KEY=VALUE"):
        apply_overrides({}, ["train.steps"])
    assert apply_overrides({"a": {"b": 1}}, ["a.c=2", "d=[1, 2]"]) == {"a": {"b": 1, "c": 2}, "d": [1, 2]}
    assert merge({"a": {"b": 1, "c": 1}}, {"a": {"c": 2}}) == {"a": {"b": 1, "c": 2}}


def test_a_number_fills_a_string_field() -> None:
    """Snapshot ids are strings in configs (an id or a tag); ``--set train.snapshot=123`` parses as 123."""
    assert load_config(Outer, None, ["name=123"]).name == "123"


def test_a_moved_key_names_where_it_went_and_sampling_options_nest_in_serve() -> None:
    with pytest.raises(ConfigError, match=r"unknown config key 'serve.steps' \(it moved: now 'serve.sampling.steps'\)"):
        parse_config(MmsrConfig, {"serve": {"steps": 3}})
    config = parse_config(MmsrConfig, {"serve": {"sampling": {"steps": 3, "temperatures": {"depth": 0.5}}}})
    assert config.serve.sampling == SamplingOptions(steps=3, temperatures={"depth": 0.5})
    with pytest.raises(ConfigError, match="serve.sampling.guidance_mode"):
        parse_config(MmsrConfig, {"serve": {"sampling": {"guidance_mode": "pag"}}})


def test_the_serving_signature_takes_every_request_param_with_the_configured_defaults() -> None:
    sampling = SamplingOptions(steps=7, guidance_mode="cfg", seed=5, negative_prompt="blurry")
    params = {spec.name: spec.default for spec in serving_signature(sampling).params}
    assert tuple(params) == PARAM_KEYS
    as_trained = {modality.value: 1.0 for modality in Modality}  # the temperatures' defaults: as trained
    types = {spec.name: spec.dtype.name for spec in serving_signature(SamplingOptions(guidance_scale=4)).params}
    assert types["guidance_scale"] == types["temperature_depth"] == "double" and types["steps"] == "long"
    assert SamplingOptions().with_params(params) == replace(sampling, temperatures=as_trained)
