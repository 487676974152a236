"""The fields both Ray Train jobs share: one set of checks, named after the section that holds them."""

from __future__ import annotations

from pathlib import Path

import pytest

from orchestration.config_loading import ConfigError, parse_config
from orchestration.mmsr_config import MmsrConfig
from trainers.harness.ray_run_config import RayRunConfig
from trainers.recipes.train_config import TrainConfig
from trainers.recipes.vq_train_config import VqTrainConfig


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        ({"num_workers": 0}, "{section}.num_workers must be >= 1"),
        ({"cpus_per_worker": 0}, "{section}.cpus_per_worker must be >= 1"),
        ({"checkpoint_every": 0}, "{section}.checkpoint_every must be >= 1"),
        ({"log_every": 0}, "{section}.log_every must be >= 1"),
        ({"max_failures": -1}, "{section}.max_failures must be >= 0"),
        ({"mixed_precision": "fp16"}, "{section}.mixed_precision: fp16 needs {section}.use_gpu"),
    ],
)
@pytest.mark.parametrize(("cls", "section"), [(TrainConfig, "train"), (VqTrainConfig, "vq_train")])
def test_both_trainings_refuse_the_same_bad_values_naming_their_section(
    cls: type[RayRunConfig], section: str, overrides: dict[str, object], message: str
) -> None:
    with pytest.raises(ValueError, match=message.format(section=section)):
        cls(**overrides)  # type: ignore[arg-type]


def test_the_yaml_sections_stay_flat_and_both_take_every_shared_key() -> None:
    shared = {"num_workers": 3, "cpus_per_worker": 2, "max_failures": 0, "ray_address": "auto", "storage_path": "gs://b/ray"}
    config = parse_config(MmsrConfig, {"train": shared, "vq_train": shared})
    for section in (config.train, config.vq_train):
        assert (section.num_workers, section.cpus, section.max_failures) == (3, 6, 0)
        assert (section.ray_address, section.storage_path) == ("auto", "gs://b/ray")
    with pytest.raises(ConfigError, match="unknown config key 'vq_train.run'"):
        parse_config(MmsrConfig, {"vq_train": {"run": {}}})


def test_a_local_storage_path_is_made_absolute_and_a_url_is_kept(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    assert RayRunConfig(storage_path="runs/ray").absolute_storage_path() == str(tmp_path / "runs/ray")
    assert RayRunConfig(storage_path="s3://bucket/ray").absolute_storage_path() == "s3://bucket/ray"
