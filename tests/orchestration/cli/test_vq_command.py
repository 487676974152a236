from __future__ import annotations

import argparse

import pytest

from orchestration.cli.vq_command import add_train_vq_parser, vq_config_from_args
from orchestration.config_loading import ConfigError, parse_config
from trainers.recipes.vq_train_config import VqTrainConfig


def _parse(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="mmsr")
    commands = parser.add_subparsers(dest="command", required=True)
    add_train_vq_parser(commands, lambda p: p.add_argument("--set", dest="overrides", action="append", default=[]))
    return parser.parse_args(argv)


def test_flags_override_the_vq_train_section() -> None:
    args = _parse(["train-vq", "--snapshot", "train-2026-11", "--run-name", "vq1", "--output-dir", "out/vq"])
    assert args.command == "train-vq" and args.run_name == "vq1"
    assert not hasattr(args, "snapshot")  # the CLI's train.snapshot shorthand must not pick it up
    config = vq_config_from_args(VqTrainConfig(steps=5), args)
    assert (config.snapshot, config.output_dir, config.steps) == ("train-2026-11", "out/vq", 5)
    assert vq_config_from_args(VqTrainConfig(snapshot="7"), _parse(["train-vq"])).snapshot == "7"


def test_an_invalid_override_is_a_config_error_naming_the_key() -> None:
    with pytest.raises(ConfigError, match="vq_train.output_dir"):
        vq_config_from_args(VqTrainConfig(), _parse(["train-vq", "--output-dir", ""]))


def test_the_section_is_validated_from_yaml_mappings() -> None:
    config = parse_config(VqTrainConfig, {"modalities": ["edges", "depth"], "mixed_precision": "bf16", "steps": 3})
    assert config.modalities == ("edges", "depth") and config.mixed_precision == "bf16"
    with pytest.raises(ConfigError, match="modalities"):
        parse_config(VqTrainConfig, {"modalities": ["caption"]})
    with pytest.raises(ConfigError, match="unknown config key 'stepz'"):
        parse_config(VqTrainConfig, {"stepz": 3})
    with pytest.raises(ConfigError, match="fp16 needs vq_train.use_gpu"):
        parse_config(VqTrainConfig, {"mixed_precision": "fp16"})
