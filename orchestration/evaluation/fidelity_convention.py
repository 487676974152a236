"""PSNR and SSIM under the field's named conventions (``evaluate.convention``), so a score can be
set beside a published table.

- ``basicsr-y`` (default): BasicSR / SwinIR classical SR (``basicsr.metrics.calculate_psnr`` /
  ``calculate_ssim`` with ``test_y_channel=True``): the Y of BT.601 YCbCr as MATLAB's ``rgb2ycbcr``
  (``16 + 65.481 R + 128.553 G + 24.966 B`` on [0, 1] RGB, kept in float32 and not rounded), a border
  of ``scale`` pixels cropped on every side, PSNR on the 255 range, SSIM with the 11x11 Gaussian
  window (sigma 1.5) over the valid region, C1/C2 on the 255 range.
- ``pyiqa-y``: the pyiqa calls diffusion-SR papers make (SeeSR-style
  ``pyiqa.create_metric('psnr'|'ssim', test_y_channel=True, color_space='ycbcr')``): the same Y on
  the [0, 1] range with no crop; PSNR is ``10 log10(1 / (mse + 1e-8))`` on that range (80 dB for
  identical images); SSIM rounds Y to integers on the 255 range, uses the same window over the
  valid region and clamps the contrast-structure term at 0 before the mean.
- ``rgb``: plain PSNR and SSIM on the RGB channels, no crop, scikit-image's default 7x7 uniform
  SSIM window (what ``mmsr evaluate`` reported before conventions existed).

Reference numbers from BasicSR's and pyiqa's own code are pinned in the tests
(``tests/orchestration/evaluation/test_fidelity_convention.py``).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal, get_args

import cv2
import numpy as np
from skimage.metrics import peak_signal_noise_ratio, structural_similarity

Convention = Literal["basicsr-y", "pyiqa-y", "rgb"]
CONVENTIONS: tuple[Convention, ...] = get_args(Convention)
PSNR_CAP = 100.0
"""PSNR of identical images (infinite under ``basicsr-y`` and ``rgb``) is reported as this."""
_BT601_Y = np.array([65.481, 128.553, 24.966])
"""RGB weights of Y on [0, 1] inputs (offset 16): BT.601 as MATLAB's ``rgb2ycbcr``."""
_PYIQA_EPS = 1e-8
_WINDOW_SIDE, _WINDOW_SIGMA = 11, 1.5
_C1, _C2 = (0.01 * 255) ** 2, (0.03 * 255) ** 2


@dataclass(frozen=True)
class Fidelity:
    psnr: float
    """dB, capped at :data:`PSNR_CAP`."""
    ssim: float


def fidelity(sr: np.ndarray, hr: np.ndarray, convention: Convention, scale: int) -> Fidelity:
    """PSNR and SSIM of (H, W, 3) uint8 RGB ``sr`` against ``hr`` of the same shape; ``scale``: the
    SR factor (``basicsr-y`` crops that many border pixels)."""
    return Fidelity(psnr=psnr(sr, hr, convention, scale), ssim=ssim(sr, hr, convention, scale))


def psnr(sr: np.ndarray, hr: np.ndarray, convention: Convention, scale: int) -> float:
    """PSNR (dB, at most :data:`PSNR_CAP`) of (H, W, 3) uint8 RGB images under ``convention``."""
    _check(sr, hr, convention)
    if convention == "rgb":
        return PSNR_CAP if np.array_equal(sr, hr) else float(min(peak_signal_noise_ratio(hr, sr, data_range=255), PSNR_CAP))
    if convention == "pyiqa-y":
        mse = np.mean((_unit_y(sr).astype(np.float64) - _unit_y(hr)) ** 2)
        return float(10 * np.log10(1.0 / (mse + _PYIQA_EPS)))
    sr_y, hr_y = _crop(basicsr_y(sr), scale), _crop(basicsr_y(hr), scale)
    mse = np.mean((sr_y - hr_y) ** 2)
    return PSNR_CAP if mse == 0 else float(min(10 * np.log10(255.0**2 / mse), PSNR_CAP))


def ssim(sr: np.ndarray, hr: np.ndarray, convention: Convention, scale: int) -> float:
    """SSIM of (H, W, 3) uint8 RGB images under ``convention`` (1.0 for identical images)."""
    _check(sr, hr, convention)
    if convention == "rgb":
        return float(structural_similarity(hr, sr, channel_axis=2, data_range=255))
    if convention == "pyiqa-y":
        return _ssim_nonnegative_cs(_pyiqa_ssim_y(sr), _pyiqa_ssim_y(hr))
    sr_y, hr_y = _crop(basicsr_y(sr), scale), _crop(basicsr_y(hr), scale)
    return float(structural_similarity(
        hr_y, sr_y, gaussian_weights=True, sigma=_WINDOW_SIGMA, use_sample_covariance=False, data_range=255,
    ))


def basicsr_y(rgb: np.ndarray) -> np.ndarray:
    """(H, W, 3) uint8 RGB -> (H, W) float64 Y on [16, 235], unrounded, with BasicSR's float32 steps."""
    unit = rgb.astype(np.float32) / np.float32(255)
    y_unit = ((unit @ _BT601_Y + 16.0) / 255.0).astype(np.float32)
    return (y_unit * np.float32(255)).astype(np.float64)


def _unit_y(rgb: np.ndarray) -> np.ndarray:
    """(H, W, 3) uint8 RGB -> (H, W) float32 Y on [16/255, 235/255] (pyiqa's ``to_y_channel``, range 1)."""
    unit = rgb.astype(np.float32) / np.float32(255)
    return (unit @ _BT601_Y.astype(np.float32) + np.float32(16)) / np.float32(255)


def _pyiqa_ssim_y(rgb: np.ndarray) -> np.ndarray:
    """Y on the 255 range rounded to integers, as float64 (pyiqa's SSIM input)."""
    return np.round(_unit_y(rgb) * np.float32(255)).astype(np.float64)


def _ssim_nonnegative_cs(x: np.ndarray, y: np.ndarray) -> float:
    """Mean SSIM over the valid region of the 11x11 Gaussian window, contrast-structure clamped at 0."""
    kernel = cv2.getGaussianKernel(_WINDOW_SIDE, _WINDOW_SIGMA)
    window = kernel @ kernel.T
    edge = _WINDOW_SIDE // 2

    def local_mean(image: np.ndarray) -> np.ndarray:
        return cv2.filter2D(image, -1, window)[edge:-edge, edge:-edge]

    mu_x, mu_y = local_mean(x), local_mean(y)
    var_x, var_y = local_mean(x * x) - mu_x**2, local_mean(y * y) - mu_y**2
    cov = local_mean(x * y) - mu_x * mu_y
    contrast_structure = np.maximum((2 * cov + _C2) / (var_x + var_y + _C2), 0.0)
    luminance = (2 * mu_x * mu_y + _C1) / (mu_x**2 + mu_y**2 + _C1)
    return float(np.mean(luminance * contrast_structure))


def _crop(image: np.ndarray, border: int) -> np.ndarray:
    return image[border:-border, border:-border] if border > 0 else image


def _check(sr: np.ndarray, hr: np.ndarray, convention: Convention) -> None:
    if sr.shape != hr.shape:
        raise ValueError(f"SR shape {sr.shape} differs from HR shape {hr.shape}")
    if sr.ndim != 3 or sr.shape[2] != 3:
        raise ValueError(f"expected (H, W, 3) RGB images, got shape {sr.shape}")
    if convention not in CONVENTIONS:
        raise ValueError(f"unknown convention {convention!r}; choose from {list(CONVENTIONS)}")
