from __future__ import annotations

import cv2
import pytest

from orchestration.config_loading import ConfigError, parse_config
from pipelines.modalities.extractor import ModalityExtractionConfig, extractor_versions


def test_defaults_enable_every_modality_from_hr() -> None:
    config = ModalityExtractionConfig()
    assert config.enabled == ("caption", "depth", "segmentation", "edges")
    assert config.source == "hr"


def test_yaml_mapping_parses_into_the_config() -> None:
    config = parse_config(ModalityExtractionConfig, {"enabled": ["edges", "depth"], "source": "lr", "batch_size": 2})
    assert config.enabled == ("edges", "depth") and config.source == "lr" and config.batch_size == 2
    with pytest.raises(ConfigError, match="enabled"):
        parse_config(ModalityExtractionConfig, {"enabled": ["depth", "normals"]})


@pytest.mark.parametrize(
    ("overrides", "field"),
    [
        ({"enabled": ("depth", "depth")}, "modalities.enabled"),
        ({"canny_low": 250, "canny_high": 200}, "modalities.canny_low"),
        ({"batch_size": 0}, "modalities.batch_size"),
        ({"source": "sr"}, "modalities.source"),
    ],
)
def test_invalid_settings_name_the_field(overrides: dict[str, object], field: str) -> None:
    with pytest.raises(ValueError, match=field):
        ModalityExtractionConfig(**overrides)  # type: ignore[arg-type]


def test_extractor_versions_cover_exactly_the_enabled_modalities() -> None:
    config = ModalityExtractionConfig(
        enabled=("depth", "edges", "caption"),
        depth_model="org/depth",
        depth_revision="abc123",
        canny_low=50,
        canny_high=150,
        captions_path="gs://b/captions.jsonl",
    )
    assert extractor_versions(config) == {
        "depth": "org/depth@abc123",
        "edges": f"opencv-canny@{cv2.__version__}:50,150",
        "caption": "sidecar:gs://b/captions.jsonl",
    }
    unpinned = extractor_versions(ModalityExtractionConfig(enabled=("segmentation",)))
    assert unpinned == {"segmentation": "facebook/mask2former-swin-tiny-ade-semantic@unpinned"}
