"""Canny edge maps, the edge modality of MMSR."""

from __future__ import annotations

import cv2
import numpy as np


def canny_edges(image: np.ndarray, low: int = 100, high: int = 200, blur_sigma: float = 0.0) -> np.ndarray:
    """(H, W, 3) uint8 RGB -> (H, W) uint8 edge map with values 0 and 255.

    OpenCV Canny on the gray image with hysteresis thresholds ``low`` <= ``high`` (on the Sobel
    gradient magnitude, L1 norm, 3x3 aperture). ``blur_sigma`` > 0 first smooths the gray image
    with a Gaussian of that standard deviation (pixels), which suppresses edges from noise.
    """
    if image.ndim != 3 or image.shape[2] != 3 or image.dtype != np.uint8:
        raise ValueError(f"image must be (H, W, 3) uint8 RGB, got shape {image.shape} dtype {image.dtype}")
    if not 0 <= low <= high:
        raise ValueError(f"Canny thresholds must satisfy 0 <= low <= high, got low={low}, high={high}")
    if blur_sigma < 0:
        raise ValueError(f"blur_sigma must be >= 0, got {blur_sigma}")
    gray = cv2.cvtColor(np.ascontiguousarray(image), cv2.COLOR_RGB2GRAY)
    if blur_sigma > 0:
        gray = cv2.GaussianBlur(gray, ksize=(0, 0), sigmaX=blur_sigma)
    return cv2.Canny(gray, float(low), float(high))
