from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from pipelines.modalities.segmentation import ADE20K_NUM_LABELS, SegmentationEstimator, build_tiny_segmentation_model


@pytest.fixture(scope="module")
def tiny_segmentation_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return build_tiny_segmentation_model(tmp_path_factory.mktemp("tiny-segmentation"))


@pytest.fixture(scope="module")
def estimator(tiny_segmentation_dir: Path) -> SegmentationEstimator:
    return SegmentationEstimator(str(tiny_segmentation_dir), revision=None, device="cpu")


def test_tiny_model_is_saved_like_a_hub_checkpoint(tiny_segmentation_dir: Path) -> None:
    config = json.loads((tiny_segmentation_dir / "config.json").read_text())
    assert config["model_type"] == "mask2former"
    assert config["backbone_config"]["model_type"] == "swin"
    assert config["num_queries"] == 4
    processor = json.loads((tiny_segmentation_dir / "preprocessor_config.json").read_text())
    assert processor["image_processor_type"] == "Mask2FormerImageProcessor"


def test_loaded_model_has_ade20k_sized_labels(estimator: SegmentationEstimator) -> None:
    assert len(estimator.id2label) == ADE20K_NUM_LABELS


def test_predict_batch_of_two_gives_class_maps_at_input_size(estimator: SegmentationEstimator) -> None:
    rng = np.random.default_rng(0)
    batch = [rng.integers(0, 256, (48, 80, 3), dtype=np.uint8) for _ in range(2)]
    maps = estimator.predict(batch)
    assert len(maps) == 2
    for label_map in maps:
        assert label_map.shape == (48, 80) and label_map.dtype == np.uint16
        assert int(label_map.max()) < ADE20K_NUM_LABELS


def test_mixed_sizes_come_back_in_input_order(estimator: SegmentationEstimator) -> None:
    rng = np.random.default_rng(1)
    batch = [rng.integers(0, 256, shape, dtype=np.uint8) for shape in [(64, 64, 3), (32, 96, 3)]]
    assert [m.shape for m in estimator.predict(batch)] == [(64, 64), (32, 96)]
