from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch

from pipelines.modalities.depth import DepthEstimator, build_tiny_depth_model, normalize_depth


@pytest.fixture(scope="module")
def tiny_depth_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return build_tiny_depth_model(tmp_path_factory.mktemp("tiny-depth"))


@pytest.fixture(scope="module")
def estimator(tiny_depth_dir: Path) -> DepthEstimator:
    return DepthEstimator(str(tiny_depth_dir), revision=None, device="cpu")


def images(*shapes: tuple[int, int], seed: int = 0) -> list[np.ndarray]:
    rng = np.random.default_rng(seed)
    return [rng.integers(0, 256, (*shape, 3), dtype=np.uint8) for shape in shapes]


def test_tiny_model_is_saved_like_a_hub_checkpoint(tiny_depth_dir: Path) -> None:
    config = json.loads((tiny_depth_dir / "config.json").read_text())
    assert config["model_type"] == "depth_anything"
    assert config["backbone_config"]["model_type"] == "dinov2"
    assert json.loads((tiny_depth_dir / "preprocessor_config.json").read_text())["ensure_multiple_of"] == 14
    assert (tiny_depth_dir / "model.safetensors").is_file()


def test_building_leaves_the_global_rng_alone(tmp_path: Path) -> None:
    before = torch.random.get_rng_state()
    build_tiny_depth_model(tmp_path)
    assert torch.equal(torch.random.get_rng_state(), before)


def test_predict_batch_of_two_gives_normalised_maps_at_input_size(estimator: DepthEstimator) -> None:
    depths = estimator.predict(images((64, 96), (64, 96)))
    assert len(depths) == 2
    for depth in depths:
        assert depth.shape == (64, 96) and depth.dtype == np.float32
        assert depth.min() == 0.0 and depth.max() == 1.0
    assert not np.array_equal(depths[0], depths[1])


def test_mixed_sizes_come_back_in_input_order(estimator: DepthEstimator) -> None:
    batch = images((40, 56), (64, 64), (40, 56), seed=1)
    depths = estimator.predict(batch)
    assert [d.shape for d in depths] == [(40, 56), (64, 64), (40, 56)]
    np.testing.assert_allclose(depths[1], estimator.predict([batch[1]])[0], atol=1e-5)


def test_normalize_depth_scales_to_unit_range_and_handles_constants() -> None:
    np.testing.assert_allclose(normalize_depth(np.array([[2.0, 4.0], [3.0, 6.0]])), [[0, 0.5], [0.25, 1]])
    flat = normalize_depth(np.full((3, 3), 7.0))
    assert flat.dtype == np.float32 and not flat.any()
