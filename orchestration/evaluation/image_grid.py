"""Side-by-side comparison grids: one row per sample, columns chosen from LR | bicubic | SR | HR."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal

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


Column = Literal["lr", "bicubic", "sr", "hr"]


def bicubic_upsample(lr: np.ndarray, height: int, width: int) -> np.ndarray:
    """(h, w, 3) uint8 -> (height, width, 3) uint8, bicubic."""
    return cv2.resize(lr, (width, height), interpolation=cv2.INTER_CUBIC)


def _cell(row: GridRow, column: Column) -> np.ndarray:
    height, width = row.hr.shape[:2]
    if column == "lr":  # the input's own pixels, enlarged without interpolation
        return cv2.resize(row.lr, (width, height), interpolation=cv2.INTER_NEAREST)
    if column == "bicubic":
        return bicubic_upsample(row.lr, height, width)
    return row.sr if column == "sr" else row.hr


def comparison_grid(
    rows: Sequence[GridRow], gap: int = 4, background: int = 255,
    columns: Sequence[Column] = ("hr", "bicubic", "sr"),
) -> np.ndarray:
    """Rows of the chosen ``columns`` (default HR | bicubic LR | SR) -> one
    (R*H + (R+1)*gap, C*W + (C+1)*gap, 3) uint8 RGB image; the LR column is enlarged to the HR size
    (nearest neighbour). Rows of different sizes are left-aligned in cells as large as the largest HR.
    """
    if not rows:
        raise ValueError("comparison_grid needs at least one row")
    cell_h = max(row.hr.shape[0] for row in rows)
    cell_w = max(row.hr.shape[1] for row in rows)
    grid = np.full(
        (len(rows) * (cell_h + gap) + gap, len(columns) * (cell_w + gap) + gap, 3), background, dtype=np.uint8
    )
    for index, row in enumerate(rows):
        if row.sr.shape != row.hr.shape:
            raise ValueError(f"row {index}: SR shape {row.sr.shape} differs from HR shape {row.hr.shape}")
        height, width = row.hr.shape[:2]
        top = gap + index * (cell_h + gap)
        for index_column, column in enumerate(columns):
            left = gap + index_column * (cell_w + gap)
            grid[top : top + height, left : left + width] = _cell(row, column)
    return grid
