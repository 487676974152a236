"""Unsharp masking (USM) of the HR image, as Real-ESRGAN applies it before degrading.

BasicSR ``USMSharp``: ``blur`` is a 51x51 Gaussian (OpenCV's default sigma for that size, 8.0),
``residual = img - blur``, ``mask = |residual| * 255 > threshold`` blurred the same way into a
soft mask, and ``out = soft * clip(img + weight * residual, 0, 1) + (1 - soft) * img``. The 2D
Gaussian is separable, so a row and a column pass give BasicSR's dense filter exactly.
"""

from __future__ import annotations

import cv2
import numpy as np

from pipelines.degradation.pixels import to_float

USM_WEIGHT = 0.5
USM_RADIUS = 50
USM_THRESHOLD = 10.0
_BORDER = cv2.BORDER_REFLECT_101


def _gaussian_blur(image: np.ndarray, taps: np.ndarray, scratch: np.ndarray, dst: np.ndarray | None) -> np.ndarray:
    """Separable blur with reflect-101 border via ``scratch``; two ``filter2D`` passes beat ``sepFilter2D``."""
    cv2.filter2D(image, -1, taps.reshape(1, -1), dst=scratch, borderType=_BORDER)
    return cv2.filter2D(scratch, -1, taps.reshape(-1, 1), dst=dst, borderType=_BORDER)


def usm_sharpen(
    image: np.ndarray,
    weight: float = USM_WEIGHT,
    radius: int = USM_RADIUS,
    threshold: float = USM_THRESHOLD,
) -> np.ndarray:
    """Sharpen (H, W, 3) ``image`` (uint8, or float32 in [0, 1]) -> float32 (H, W, 3) in [0, 1].

    ``threshold`` is in 0..255 units; an even ``radius`` is bumped to the next odd kernel size.
    """
    size = radius + 1 if radius % 2 == 0 else radius
    taps = cv2.getGaussianKernel(size, 0).astype(np.float32)
    pixels = to_float(image) if image.dtype == np.uint8 else image
    scratch = np.empty_like(pixels)
    blur = _gaussian_blur(pixels, taps, scratch, None)
    mask = cv2.absdiff(pixels, blur)
    cv2.threshold(mask, threshold / 255.0, 1.0, cv2.THRESH_BINARY, dst=mask)
    soft = _gaussian_blur(mask, taps, scratch, mask)
    sharp = cv2.subtract(pixels, blur, dst=blur)
    cv2.scaleAdd(sharp, weight, pixels, dst=sharp)
    np.clip(sharp, 0.0, 1.0, out=sharp)
    cv2.subtract(sharp, pixels, dst=sharp)
    cv2.multiply(sharp, soft, dst=sharp)
    return cv2.add(sharp, pixels, dst=sharp)
