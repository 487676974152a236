from __future__ import annotations

import numpy as np
import pytest

from pipelines.degradation.config import NoiseSettings
from pipelines.degradation.noise import NoiseSpec, add_gaussian_noise, add_noise, add_poisson_noise, draw_noise


def _image(seed: int = 0) -> np.ndarray:
    """Mid-range image so small noise is never clipped."""
    return (0.3 + 0.4 * np.random.default_rng(seed).random((48, 40, 3))).astype(np.float32)


@pytest.mark.parametrize("gray", [False, True])
def test_gaussian_noise_keeps_dtype_range_and_has_the_requested_sigma(gray: bool) -> None:
    image = _image()
    out = add_gaussian_noise(image, 5.0, gray, np.random.default_rng(1))
    assert out.dtype == np.float32 and out.shape == image.shape
    assert out.min() >= 0.0 and out.max() <= 1.0
    noise = (out - image) * 255.0
    assert noise.std() == pytest.approx(5.0, rel=0.1)
    same_across_channels = np.allclose(noise[..., 0], noise[..., 1], atol=1e-3)
    assert same_across_channels == gray


def test_strong_gaussian_noise_is_clipped_to_unit_range() -> None:
    out = add_gaussian_noise(np.zeros((32, 32, 3), np.float32), 200.0, False, np.random.default_rng(0))
    assert out.min() == 0.0 and out.max() == 1.0


@pytest.mark.parametrize("gray", [False, True])
def test_poisson_noise_keeps_dtype_range_and_grows_with_scale(gray: bool) -> None:
    image = _image(2)
    weak = add_poisson_noise(image, 0.5, gray, np.random.default_rng(3))
    strong = add_poisson_noise(image, 3.0, gray, np.random.default_rng(3))
    for out in (weak, strong):
        assert out.dtype == np.float32 and out.shape == image.shape
        assert out.min() >= 0.0 and out.max() <= 1.0
    assert np.abs(strong - image).mean() > 4 * np.abs(weak - image).mean()
    noise = weak - image  # never clipped: 0.3 away from 0 and 1 is > 10 standard deviations
    assert np.allclose(noise[..., 0], noise[..., 2], atol=1e-6) == gray


def test_poisson_noise_is_signal_dependent() -> None:
    image = np.random.default_rng(0).random((64, 64, 3), dtype=np.float32)  # all 256 levels present
    dark, bright = image < 0.1, (image > 0.6) & (image < 0.9)
    residual = add_poisson_noise(image, 1.0, False, np.random.default_rng(1)) - image
    assert residual[bright].std() > 2 * residual[dark].std()


def test_few_distinct_values_give_coarser_poisson_noise() -> None:
    two_levels = np.where(np.indices((64, 64)).sum(0) % 2 == 1, 0.2, 0.6).astype(np.float32)[..., None].repeat(3, 2)
    many_levels = two_levels + np.random.default_rng(0).integers(-40, 40, two_levels.shape) / 255.0
    coarse = add_poisson_noise(two_levels, 0.2, False, np.random.default_rng(1)) - two_levels
    fine = add_poisson_noise(many_levels.astype(np.float32), 0.2, False, np.random.default_rng(1)) - many_levels
    assert coarse.std() > 5 * fine.std()  # vals = 2 instead of 256, like Real-ESRGAN


def test_sample_noise_respects_the_probabilities_and_ranges() -> None:
    rng = np.random.default_rng(0)
    gaussian = NoiseSettings(
        gaussian_noise_prob=1.0, noise_range=(2.0, 3.0), poisson_scale_range=(0.1, 0.2), gray_noise_prob=0.0
    )
    spec = draw_noise(gaussian, rng)
    assert spec.kind == "gaussian" and not spec.gray and 2.0 <= (spec.sigma or 0) <= 3.0
    assert spec.to_params() == {"kind": "gaussian", "gray": False, "sigma": spec.sigma}
    poisson = NoiseSettings(
        gaussian_noise_prob=0.0, noise_range=(2.0, 3.0), poisson_scale_range=(0.1, 0.2), gray_noise_prob=1.0
    )
    spec = draw_noise(poisson, rng)
    assert spec.kind == "poisson" and spec.gray and 0.1 <= (spec.scale or 0) <= 0.2


def test_add_noise_dispatches_on_the_kind() -> None:
    image = _image(4)
    out = add_noise(image, NoiseSpec("poisson", gray=False, scale=1.0), np.random.default_rng(5))
    np.testing.assert_array_equal(out, add_poisson_noise(image, 1.0, False, np.random.default_rng(5)))
