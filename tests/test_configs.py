"""Every shipped config validates, and configs/quickstart.yaml is the quickstart's embedded preset."""

from __future__ import annotations

from pathlib import Path

import pytest

from orchestration.quickstart.quickstart_preset import quickstart_preset
from orchestration.config_loading import load_config
from orchestration.mmsr_config import MmsrConfig

CONFIGS = sorted((Path(__file__).parents[1] / "configs").glob("*.yaml"))


def test_configs_are_shipped() -> None:
    assert {p.name for p in CONFIGS} >= {"quickstart.yaml", "production.yaml"}


@pytest.mark.parametrize("path", CONFIGS, ids=lambda p: p.name)
def test_shipped_config_validates(path: Path) -> None:
    assert isinstance(load_config(MmsrConfig, path), MmsrConfig)


def test_quickstart_yaml_matches_the_embedded_preset() -> None:
    from_file = load_config(MmsrConfig, Path(__file__).parents[1] / "configs" / "quickstart.yaml")
    assert from_file == load_config(MmsrConfig, None, defaults=quickstart_preset("mmsr-runs"))
