"""Conversions between uint8 images and the float32 [0, 1] working range."""

from __future__ import annotations

import cv2
import numpy as np

_INV_255 = np.float32(1.0 / 255.0)


def to_float(image: np.ndarray) -> np.ndarray:
    """uint8 (H, W, C) -> float32 (H, W, C) in [0, 1]."""
    out = image.astype(np.float32)
    out *= _INV_255
    return out


def to_uint8(image: np.ndarray) -> np.ndarray:
    """float32 (H, W, C) -> uint8 ``clamp(round(image * 255), 0, 255)`` (Real-ESRGAN's final rounding).

    Rounds half to even, like ``torch.round``.
    """
    return cv2.convertScaleAbs(np.clip(image, 0.0, 1.0), alpha=255.0).reshape(image.shape)
