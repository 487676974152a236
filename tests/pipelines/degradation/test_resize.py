from __future__ import annotations

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from pipelines.degradation.config import DegradationConfig
from pipelines.degradation.resize import draw_random_resize, resize, scaled_size


def test_sampled_scales_stay_on_their_side_of_one() -> None:
    settings = DegradationConfig().resize_settings(1)
    rng = np.random.default_rng(0)
    specs = [draw_random_resize(settings, rng) for _ in range(300)]
    assert {spec.direction for spec in specs} == {"up", "down", "keep"}
    assert {spec.mode for spec in specs} == {"area", "bilinear", "bicubic"}
    for spec in specs:
        low, high = {"up": (1.0, 1.5), "down": (0.15, 1.0), "keep": (1.0, 1.0)}[spec.direction]
        assert low <= spec.scale <= high


def test_scaled_size_floors_like_interpolate_and_keeps_a_pixel() -> None:
    assert scaled_size(512, 384, 0.6173) == (316, 237)
    assert scaled_size(8, 8, 0.05) == (1, 1)


@pytest.mark.parametrize("mode", ["area", "bilinear", "bicubic"])
def test_resize_hits_the_requested_size(mode: str) -> None:
    image = np.random.default_rng(1).random((40, 30, 3), dtype=np.float32)
    out = resize(image, (17, 55), mode)  # type: ignore[arg-type]
    assert out.shape == (17, 55, 3) and out.dtype == np.float32
    assert resize(image, (40, 30), mode) is image  # type: ignore[arg-type]


@pytest.mark.parametrize("mode", ["area", "bilinear", "bicubic"])
@pytest.mark.parametrize("size", [(16, 12), (23, 7), (41, 30), (97, 64), (1, 1)])
def test_matches_torch_interpolate(mode: str, size: tuple[int, int]) -> None:
    image = np.random.default_rng(3).random((41, 29, 3), dtype=np.float32)
    expected = F.interpolate(torch.from_numpy(image).permute(2, 0, 1)[None], size=size, mode=mode)
    out = resize(image, size, mode)  # type: ignore[arg-type]
    assert np.abs(out - expected[0].permute(1, 2, 0).numpy()).max() < 1e-5


def test_area_enlarging_repeats_pixels_like_torch() -> None:
    image = np.arange(12, dtype=np.float32).reshape(2, 2, 3)
    out = resize(image, (4, 4), "area")
    np.testing.assert_array_equal(out[:2, :2], np.broadcast_to(image[0, 0], (2, 2, 3)))
