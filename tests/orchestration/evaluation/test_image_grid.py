from __future__ import annotations

import numpy as np
import pytest

from orchestration.evaluation.image_grid import GridRow, bicubic_upsample, comparison_grid


def test_grid_places_hr_bicubic_and_sr_side_by_side() -> None:
    hr = np.full((8, 8, 3), 10, np.uint8)
    lr = np.full((2, 2, 3), 200, np.uint8)
    sr = np.full((8, 8, 3), 90, np.uint8)
    grid = comparison_grid([GridRow(hr, lr, sr), GridRow(hr + 1, lr, sr + 1)], gap=2)
    assert grid.shape == (2 * 8 + 3 * 2, 3 * 8 + 4 * 2, 3)
    assert (grid[2:10, 2:10] == 10).all()
    assert (grid[2:10, 12:20] == 200).all()
    assert (grid[2:10, 22:30] == 90).all()
    assert (grid[12:20, 22:30] == 91).all()
    assert (grid[0:2] == 255).all()


def test_bicubic_upsample_shape_and_bad_rows() -> None:
    assert bicubic_upsample(np.zeros((3, 5, 3), np.uint8), 12, 20).shape == (12, 20, 3)
    with pytest.raises(ValueError, match="at least one row"):
        comparison_grid([])
    with pytest.raises(ValueError, match="row 0: SR shape"):
        comparison_grid([GridRow(np.zeros((8, 8, 3), np.uint8), np.zeros((2, 2, 3), np.uint8), np.zeros((4, 4, 3), np.uint8))])
