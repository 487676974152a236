"""Blur kernels of Real-ESRGAN: (generalized / plateau) bivariate Gaussians and the 2D sinc.

Math follows BasicSR ``basicsr/data/degradations.py``: the grid is centred on the middle tap with
x along columns and y along rows, the covariance is ``U diag(sigma_x^2, sigma_y^2) U^T`` with ``U``
the rotation by ``theta``, and every kernel is normalised to sum to 1. Sampling follows
``RealESRGANDataset.__getitem__``: a uniformly drawn odd size, a sinc kernel with ``sinc_prob``,
else one of ``kernel_list`` with ``kernel_prob``.
"""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass
from typing import Any, Literal

import numpy as np
from scipy import special

from pipelines.degradation.config import BlurSettings, KernelType
from pipelines.degradation.sampling import weighted_index

SINC_KERNEL: Literal["sinc"] = "sinc"
_SINC_SMALL_KERNEL = 13
"""Real-ESRGAN draws the sinc cutoff from [pi/3, pi] below this size, else from [pi/5, pi]."""


@dataclass(frozen=True)
class KernelSpec:
    """One sampled kernel: its type and the parameters that define it (``None`` when unused)."""

    kernel_type: KernelType | Literal["sinc"]
    size: int
    sigma_x: float | None = None
    sigma_y: float | None = None
    theta: float | None = None
    """Rotation in radians (anisotropic kernels only)."""
    beta: float | None = None
    """Shape of generalized-Gaussian / plateau kernels."""
    omega_c: float | None = None
    """Cutoff in radians of the sinc kernel."""

    def to_params(self) -> dict[str, Any]:
        """JSON-serialisable record of the kernel, ``None`` fields dropped."""
        return {key: value for key, value in dataclasses.asdict(self).items() if value is not None}


def _grid(size: int) -> tuple[np.ndarray, np.ndarray]:
    """(size, size) float64 x (column) and y (row) offsets from the centre tap."""
    if size < 1 or size % 2 == 0:
        raise ValueError(f"kernel size must be odd and >= 1, got {size}")
    axis = np.arange(-(size // 2), size // 2 + 1, dtype=np.float64)
    return axis[None, :].repeat(size, 0), axis[:, None].repeat(size, 1)


def _quadratic_form(size: int, sigma_x: float, sigma_y: float, theta: float) -> np.ndarray:
    """(size, size) float64 ``[x y] Sigma^-1 [x y]^T`` for the rotated covariance."""
    x, y = _grid(size)
    cos, sin = math.cos(theta), math.sin(theta)
    inv_x, inv_y = 1.0 / sigma_x**2, 1.0 / sigma_y**2
    a = cos * cos * inv_x + sin * sin * inv_y
    b = cos * sin * (inv_x - inv_y)
    d = sin * sin * inv_x + cos * cos * inv_y
    return a * x * x + 2.0 * b * x * y + d * y * y


def _normalised(kernel: np.ndarray) -> np.ndarray:
    return kernel / kernel.sum()


def bivariate_gaussian(size: int, sigma_x: float, sigma_y: float, theta: float) -> np.ndarray:
    """(size, size) float64 Gaussian kernel summing to 1; iso when ``sigma_x == sigma_y``."""
    return _normalised(np.exp(-0.5 * _quadratic_form(size, sigma_x, sigma_y, theta)))


def bivariate_generalized_gaussian(size: int, sigma_x: float, sigma_y: float, theta: float, beta: float) -> np.ndarray:
    """(size, size) float64 ``exp(-0.5 q^beta)`` kernel summing to 1 (beta = 1: Gaussian)."""
    return _normalised(np.exp(-0.5 * np.power(_quadratic_form(size, sigma_x, sigma_y, theta), beta)))


def bivariate_plateau(size: int, sigma_x: float, sigma_y: float, theta: float, beta: float) -> np.ndarray:
    """(size, size) float64 plateau kernel ``1 / (1 + q^beta)`` summing to 1."""
    return _normalised(1.0 / (np.power(_quadratic_form(size, sigma_x, sigma_y, theta), beta) + 1.0))


def circular_lowpass_kernel(omega_c: float, size: int) -> np.ndarray:
    """(size, size) float64 circularly symmetric 2D sinc (ideal low-pass, cutoff ``omega_c``), sum 1."""
    x, y = _grid(size)
    radius = np.hypot(x, y)
    radius[size // 2, size // 2] = 1.0  # placeholder; the centre is set to its limit below
    kernel = omega_c * special.j1(omega_c * radius) / (2.0 * np.pi * radius)
    kernel[size // 2, size // 2] = omega_c**2 / (4.0 * np.pi)
    return _normalised(kernel)


def kernel_from_spec(spec: KernelSpec) -> np.ndarray:
    """(size, size) float64 kernel described by ``spec``."""
    if spec.kernel_type == SINC_KERNEL:
        return circular_lowpass_kernel(_required(spec.omega_c), spec.size)
    sigma_x = _required(spec.sigma_x)
    sigma_y = spec.sigma_y if spec.sigma_y is not None else sigma_x
    theta = spec.theta if spec.theta is not None else 0.0
    if spec.kernel_type in ("iso", "aniso"):
        return bivariate_gaussian(spec.size, sigma_x, sigma_y, theta)
    if spec.kernel_type in ("generalized_iso", "generalized_aniso"):
        return bivariate_generalized_gaussian(spec.size, sigma_x, sigma_y, theta, _required(spec.beta))
    return bivariate_plateau(spec.size, sigma_x, sigma_y, theta, _required(spec.beta))


def _required(value: float | None) -> float:
    if value is None:
        raise ValueError("kernel spec is missing a parameter its type needs")
    return value


def draw_kernel_size(size_range: tuple[int, int], rng: np.random.Generator) -> int:
    """Odd size drawn uniformly from the inclusive ``size_range`` (Real-ESRGAN: 7, 9, ..., 21)."""
    low, high = size_range
    return low + 2 * int(rng.integers(0, (high - low) // 2 + 1))


def _sample_beta(beta_range: tuple[float, float], rng: np.random.Generator) -> float:
    """Real-ESRGAN's beta: below or above 1 with equal probability, uniform within each side."""
    if rng.uniform() < 0.5:
        return float(rng.uniform(beta_range[0], 1.0))
    return float(rng.uniform(1.0, beta_range[1]))


def draw_blur_kernel(settings: BlurSettings, rng: np.random.Generator) -> KernelSpec:
    """Draw one blur kernel the way ``RealESRGANDataset`` draws ``kernel1`` / ``kernel2``."""
    size = draw_kernel_size(settings.kernel_size_range, rng)
    if rng.uniform() < settings.sinc_prob:
        low = np.pi / 3 if size < _SINC_SMALL_KERNEL else np.pi / 5
        return KernelSpec(SINC_KERNEL, size, omega_c=float(rng.uniform(low, np.pi)))
    kernel_type = settings.kernel_list[weighted_index(settings.kernel_prob, rng)]
    sigma_x = float(rng.uniform(*settings.blur_sigma))
    sigma_y: float | None = None
    theta: float | None = None
    if kernel_type.endswith("aniso"):
        sigma_y = float(rng.uniform(*settings.blur_sigma))
        theta = float(rng.uniform(-np.pi, np.pi))
    beta: float | None = None
    if kernel_type.startswith("generalized"):
        beta = _sample_beta(settings.betag_range, rng)
    elif kernel_type.startswith("plateau"):
        beta = _sample_beta(settings.betap_range, rng)
    return KernelSpec(kernel_type, size, sigma_x=sigma_x, sigma_y=sigma_y, theta=theta, beta=beta)


def draw_final_sinc(size_range: tuple[int, int], rng: np.random.Generator) -> KernelSpec:
    """Draw the final sinc filter: uniform odd size, cutoff uniform in [pi/3, pi]."""
    size = draw_kernel_size(size_range, rng)
    return KernelSpec(SINC_KERNEL, size, omega_c=float(rng.uniform(np.pi / 3, np.pi)))
