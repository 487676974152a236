from __future__ import annotations

import math

import numpy as np
import pytest

from pipelines.degradation.config import KERNEL_TYPES, DegradationConfig
from pipelines.degradation.kernels import (
    KernelSpec,
    bivariate_gaussian,
    bivariate_generalized_gaussian,
    bivariate_plateau,
    circular_lowpass_kernel,
    kernel_from_spec,
    draw_blur_kernel,
    draw_final_sinc,
)


def _moments(kernel: np.ndarray) -> tuple[float, float, float]:
    """Second moments (xx, yy, xy) of a kernel, x along columns."""
    half = kernel.shape[0] // 2
    axis = np.arange(-half, half + 1, dtype=np.float64)
    x, y = axis[None, :], axis[:, None]
    return float((kernel * x * x).sum()), float((kernel * y * y).sum()), float((kernel * x * y).sum())


@pytest.mark.parametrize("size", [7, 13, 21])
@pytest.mark.parametrize("kernel_type", [*KERNEL_TYPES, "sinc"])
def test_every_kernel_type_sums_to_one_with_its_odd_size(kernel_type: str, size: int) -> None:
    spec = KernelSpec(kernel_type, size, sigma_x=1.7, sigma_y=0.9, theta=0.6, beta=1.4, omega_c=1.1)  # type: ignore[arg-type]
    kernel = kernel_from_spec(spec)
    assert kernel.shape == (size, size)
    assert kernel.sum() == pytest.approx(1.0, abs=1e-12)
    assert np.isfinite(kernel).all()


def test_iso_kernel_is_rotation_symmetric() -> None:
    kernel = bivariate_gaussian(15, 2.0, 2.0, 0.0)
    np.testing.assert_allclose(kernel, kernel.T, atol=1e-15)
    np.testing.assert_allclose(kernel, kernel[::-1, ::-1], atol=1e-15)
    xx, yy, xy = _moments(kernel)
    assert xx == pytest.approx(yy) and abs(xy) < 1e-12


def test_aniso_kernel_has_unequal_axis_variances_that_rotate_with_theta() -> None:
    flat = bivariate_gaussian(21, 2.5, 1.0, 0.0)
    xx, yy, xy = _moments(flat)
    assert xx > 4 * yy and abs(xy) < 1e-12  # long axis along x
    np.testing.assert_allclose(bivariate_gaussian(21, 2.5, 1.0, math.pi / 2), flat.T, atol=1e-12)
    xx, yy, xy = _moments(bivariate_gaussian(21, 2.5, 1.0, math.pi / 4))
    assert xx == pytest.approx(yy, rel=1e-6) and xy > 1.0  # long axis along the diagonal


def test_generalized_gaussian_with_beta_one_is_the_gaussian_and_plateau_is_flatter() -> None:
    gaussian = bivariate_gaussian(11, 1.5, 1.0, 0.3)
    np.testing.assert_allclose(bivariate_generalized_gaussian(11, 1.5, 1.0, 0.3, 1.0), gaussian, atol=1e-15)
    plateau = bivariate_plateau(11, 1.5, 1.5, 0.0, 2.0)
    assert plateau[5, 5] < gaussian[5, 5]
    assert plateau[0, 0] > bivariate_gaussian(11, 1.5, 1.5, 0.0)[0, 0]


def test_sinc_kernel_is_symmetric_with_its_peak_in_the_centre() -> None:
    kernel = circular_lowpass_kernel(np.pi / 3, 13)
    for view in (kernel.T, kernel[::-1], kernel[:, ::-1]):
        np.testing.assert_allclose(view, kernel, atol=1e-15)
    assert kernel.argmax() == kernel.size // 2
    assert kernel.min() < 0  # ringing lobes


def test_sampled_kernels_follow_the_configured_sizes_and_types() -> None:
    settings = DegradationConfig().blur_settings(2)
    rng = np.random.default_rng(0)
    specs = [draw_blur_kernel(settings, rng) for _ in range(400)]
    assert {spec.size for spec in specs} == set(range(7, 22, 2))
    assert {spec.kernel_type for spec in specs} == {*KERNEL_TYPES, "sinc"}
    for spec in specs:
        params = spec.to_params()
        if spec.kernel_type == "sinc":
            assert set(params) == {"kernel_type", "size", "omega_c"}
            continue
        assert 0.2 <= params["sigma_x"] <= 1.5
        assert ("theta" in params) == spec.kernel_type.endswith("aniso")
        assert ("beta" in params) == (spec.kernel_type.startswith(("generalized", "plateau")))
    sinc = draw_final_sinc((7, 21), rng)
    assert sinc.kernel_type == "sinc" and np.pi / 3 <= (sinc.omega_c or 0.0) <= np.pi
