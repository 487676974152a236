"""Seeded random square crops of HR images."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


class ImageTooSmallError(ValueError):
    """The image is smaller than the crop; the caller records the input as rejected."""


@dataclass(frozen=True)
class Crop:
    """A square crop and where it came from."""

    pixels: np.ndarray
    """(size, size, C) array of the source dtype (uint8 RGB in the pipeline), a copy."""
    box: tuple[int, int, int, int]
    """(top, left, height, width) of the crop in the source image."""


def random_crop(image: np.ndarray, size: int, rng: np.random.Generator, multiple_of: int) -> Crop:
    """Cut a ``size`` x ``size`` crop at a position drawn uniformly from ``rng``.

    ``image`` is (H, W, C). ``size`` must be a multiple of ``multiple_of`` (the SR scale) so the
    LR side ``size / multiple_of`` is whole. Raises :class:`ImageTooSmallError` if H or W < size.
    """
    if size < 1 or multiple_of < 1:
        raise ValueError(f"size and multiple_of must be >= 1, got size={size}, multiple_of={multiple_of}")
    if size % multiple_of:
        raise ValueError(f"size must be a multiple of multiple_of={multiple_of}, got {size}")
    if image.ndim != 3:
        raise ValueError(f"image must be (H, W, C), got shape {image.shape}")
    height, width = image.shape[:2]
    if height < size or width < size:
        raise ImageTooSmallError(f"image is {height}x{width} (HxW), smaller than the {size}x{size} crop")
    top = int(rng.integers(0, height - size + 1))
    left = int(rng.integers(0, width - size + 1))
    pixels = image[top : top + size, left : left + size].copy()
    return Crop(pixels=pixels, box=(top, left, size, size))
