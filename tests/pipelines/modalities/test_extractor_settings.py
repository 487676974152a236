from __future__ import annotations

import cv2
import pytest

from pipelines.modalities.extractor import ModalityExtractionConfig, extractor_versions
from pipelines.modalities.extractor_settings import CannySettings, CaptionSettings, ExtractorSettings, ModelVersion

CONFIGS = [
    ModalityExtractionConfig(),
    ModalityExtractionConfig(
        depth_model="/models/depth@v2", depth_revision="abc123", canny_low=30, canny_high=90,
        captions_path="gs://bucket/captions+more.jsonl", caption_model="org/blip", caption_revision="main",
        caption_max_tokens=12,
    ),
    ModalityExtractionConfig(enabled=("edges",), canny_low=0, canny_high=0),
    ModalityExtractionConfig(enabled=()),
]


@pytest.mark.parametrize("config", CONFIGS)
def test_settings_read_back_what_rows_record_and_rebuild_the_config(config: ModalityExtractionConfig) -> None:
    recorded = extractor_versions(config)
    settings = ExtractorSettings.from_versions(recorded)
    assert settings.versions() == recorded
    rebuilt = settings.extraction_config()
    assert extractor_versions(rebuilt) == recorded
    assert rebuilt.enabled == config.enabled


def test_fields_of_a_recorded_lineage() -> None:
    settings = ExtractorSettings.from_versions({
        "caption": "sidecar:none+org/blip@unpinned:8", "depth": "/models/depth@v2@unpinned",
        "edges": "opencv-canny@4.9.0:30,90",
    })
    assert settings.caption == CaptionSettings(None, ModelVersion("org/blip"), 8)
    assert settings.depth == ModelVersion("/models/depth@v2", None)
    assert settings.edges == CannySettings(30, 90, "4.9.0") and settings.segmentation is None
    assert settings.served() == {
        "caption": "captioner org/blip@unpinned (8 tokens)", "depth": "/models/depth@v2@unpinned",
        "edges": "canny_low=30, canny_high=90",
    }


def test_served_settings_leave_out_the_opencv_version_and_the_sidecar_file() -> None:
    config = ModalityExtractionConfig(enabled=("caption", "edges"), captions_path="/data/captions.jsonl")
    here = ExtractorSettings.from_config(config)
    assert here.edges is not None and here.edges.opencv == cv2.__version__
    elsewhere = ExtractorSettings.from_versions({"caption": "sidecar:none", "edges": "opencv-canny@3.0.0:100,200"})
    assert here != elsewhere and here.served() == elsewhere.served() == {"edges": "canny_low=100, canny_high=200"}


@pytest.mark.parametrize(
    ("versions", "message"),
    [
        ({"normals": "x@y"}, "unknown modalities"),
        ({"edges": "opencv-canny@4.9.0:low,high"}, "edges extractor lineage"),
        ({"depth": "no-revision"}, "depth extractor lineage"),
        ({"caption": "captioner:blip"}, "caption extractor lineage"),
    ],
)
def test_unreadable_lineage_is_refused_naming_the_modality(versions: dict[str, str], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        ExtractorSettings.from_versions(versions)
