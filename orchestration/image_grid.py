"""Side-by-side comparison grids: one row per sample, HR | bicubic-upsampled LR | SR."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import cv2
import numpy as np


@dataclass(frozen=True)
class GridRow:
    hr: np.ndarray
    """(H, W, 3) uint8 RGB ground truth."""
    lr: np.ndarray
    """(h, w, 3) uint8 RGB input; upsampled bicubically to (H, W) in the grid."""
    sr: np.ndarray
    """(H, W, 3) uint8 RGB model output."""


def bicubic_upsample(lr: np.ndarray, height: int, width: int) -> np.ndarray:
    """(h, w, 3) uint8 -> (height, width, 3) uint8, bicubic."""
    return cv2.resize(lr, (width, height), interpolation=cv2.INTER_CUBIC)


def comparison_grid(rows: Sequence[GridRow], gap: int = 4, background: int = 255) -> np.ndarray:
    """Rows of HR | bicubic LR | SR -> one (R*H + (R+1)*gap, 3*W + 4*gap, 3) uint8 RGB image.

    Rows of different sizes are left-aligned in cells as large as the largest HR.
    """
    if not rows:
        raise ValueError("comparison_grid needs at least one row")
    cell_h = max(row.hr.shape[0] for row in rows)
    cell_w = max(row.hr.shape[1] for row in rows)
    grid = np.full((len(rows) * (cell_h + gap) + gap, 3 * (cell_w + gap) + gap, 3), background, dtype=np.uint8)
    for index, row in enumerate(rows):
        if row.sr.shape != row.hr.shape:
            raise ValueError(f"row {index}: SR shape {row.sr.shape} differs from HR shape {row.hr.shape}")
        height, width = row.hr.shape[:2]
        top = gap + index * (cell_h + gap)
        for column, image in enumerate((row.hr, bicubic_upsample(row.lr, height, width), row.sr)):
            left = gap + column * (cell_w + gap)
            grid[top : top + height, left : left + width] = image
    return grid
