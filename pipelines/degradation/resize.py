"""Random resizing of Real-ESRGAN: up / down / keep with a uniform scale and a random mode.

Results equal ``F.interpolate(..., size=...)`` (``align_corners=False``, no antialiasing):
bilinear and bicubic are OpenCV's ``INTER_LINEAR`` / ``INTER_CUBIC`` (half-pixel centres, cubic
a = -0.75, identical outputs). Torch's ``area`` is adaptive average pooling, which OpenCV's
``INTER_AREA`` is not (fractional weights when shrinking, bilinear-like when enlarging, where torch
repeats pixels), so it is computed here: each output row / column averages input rows
``[floor(i * n / m), ceil((i + 1) * n / m))``.
"""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass
from typing import Any

import cv2
import numpy as np
from scipy import sparse

from pipelines.degradation.config import UP_DOWN_KEEP, ResizeMode, ResizeSettings, UpDown
from pipelines.degradation.sampling import uniform_index, weighted_index

INTERPOLATION: dict[ResizeMode, int] = {"bilinear": cv2.INTER_LINEAR, "bicubic": cv2.INTER_CUBIC}


@dataclass(frozen=True)
class ResizeSpec:
    """One sampled random resize: direction, scale factor and interpolation mode."""

    direction: UpDown
    scale: float
    mode: ResizeMode

    def to_params(self) -> dict[str, Any]:
        """JSON-serialisable record of the resize."""
        return dataclasses.asdict(self)


def draw_resize_mode(modes: tuple[ResizeMode, ...], rng: np.random.Generator) -> ResizeMode:
    """Interpolation mode drawn uniformly from ``modes``."""
    return modes[uniform_index(len(modes), rng)]


def draw_random_resize(settings: ResizeSettings, rng: np.random.Generator) -> ResizeSpec:
    """Draw direction by ``resize_prob``, the scale uniformly on its side of 1, then the mode."""
    direction = UP_DOWN_KEEP[weighted_index(settings.resize_prob, rng)]
    low, high = settings.resize_range
    if direction == "up":
        scale = float(rng.uniform(1.0, high))
    elif direction == "down":
        scale = float(rng.uniform(low, 1.0))
    else:
        scale = 1.0
    return ResizeSpec(direction=direction, scale=scale, mode=draw_resize_mode(settings.modes, rng))


def scaled_size(height: float, width: float, scale: float) -> tuple[int, int]:
    """``(int(height * scale), int(width * scale))`` like ``F.interpolate``, at least 1 pixel."""
    return max(1, math.floor(height * scale)), max(1, math.floor(width * scale))


def resize(image: np.ndarray, size: tuple[int, int], mode: ResizeMode) -> np.ndarray:
    """Resize (H, W, C) float32 ``image`` to ``size`` = (height, width); same size is a no-op."""
    height, width = size
    if image.shape[:2] == (height, width):
        return image
    if mode == "area":
        return area_resize(image, size)
    out = cv2.resize(image, (width, height), interpolation=INTERPOLATION[mode])
    return out.reshape((height, width, *image.shape[2:]))


def area_resize(image: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    """Torch ``area`` interpolation (adaptive average pooling): (H, W, C) float32 -> (height, width, C)."""
    height, width = size
    channels = image.shape[2] if image.ndim == 3 else 1
    rows = _pooling_matrix(image.shape[0], height) @ image.reshape(image.shape[0], -1)
    columns = cv2.transpose(rows.reshape(height, image.shape[1], channels))  # (W, height, C)
    pooled = _pooling_matrix(image.shape[1], width) @ columns.reshape(image.shape[1], -1)
    return cv2.transpose(pooled.reshape(width, height, channels)).reshape(size + image.shape[2:])


def _pooling_matrix(size_in: int, size_out: int) -> sparse.csr_matrix:
    """(size_out, size_in) float32 CSR averaging inputs ``[floor(i * n / m), ceil((i + 1) * n / m))``."""
    index = np.arange(size_out)
    start = index * size_in // size_out
    lengths = -(-(index + 1) * size_in // size_out) - start
    indptr = np.concatenate(([0], np.cumsum(lengths)))
    owner = np.repeat(index, lengths)
    columns = start[owner] + np.arange(indptr[-1]) - indptr[owner]
    weights = (1.0 / lengths[owner]).astype(np.float32)
    return sparse.csr_matrix((weights, columns, indptr), shape=(size_out, size_in))
