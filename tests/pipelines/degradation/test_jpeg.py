from __future__ import annotations

import numpy as np
import pytest
from skimage import data

from pipelines.degradation.jpeg import draw_jpeg_quality, jpeg_compress


def _photo() -> np.ndarray:
    return data.astronaut()[100:196, 150:246].astype(np.float32) / 255.0


def test_output_is_float_rgb_in_unit_range() -> None:
    out = jpeg_compress(_photo(), 50)
    assert out.shape == (96, 96, 3) and out.dtype == np.float32
    assert out.min() >= 0.0 and out.max() <= 1.0


def test_lower_quality_gives_more_error() -> None:
    photo = _photo()
    errors = [float(np.mean((jpeg_compress(photo, quality) - photo) ** 2)) for quality in (95, 60, 30, 10)]
    assert errors == sorted(errors)
    assert errors[-1] > 5 * errors[0]


def test_colours_survive_the_round_trip() -> None:
    red = np.zeros((32, 32, 3), np.float32)
    red[..., 0] = 0.9
    out = jpeg_compress(red, 95)
    assert out[..., 0].mean() > 0.8 and out[..., 2].mean() < 0.1  # no RGB/BGR swap


def test_quality_is_sampled_inclusive_and_validated() -> None:
    rng = np.random.default_rng(0)
    qualities = {draw_jpeg_quality((30, 32), rng) for _ in range(200)}
    assert qualities == {30, 31, 32}
    with pytest.raises(ValueError, match="quality"):
        jpeg_compress(_photo(), 0)
