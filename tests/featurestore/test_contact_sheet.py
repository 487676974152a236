from __future__ import annotations

import numpy as np
import pytest

from featurestore.contact_sheet import SheetLayout, SheetRow, render_sheet


def _cell(value: int, side: int = 16) -> np.ndarray:
    return np.full((side, side, 3), value, dtype=np.uint8)


def test_sheet_size_and_cells_follow_the_layout() -> None:
    rng = np.random.default_rng(0)
    image = rng.integers(0, 256, (16, 16, 3), dtype=np.uint8)
    rows = [SheetRow((image, _cell(10, 4), None), "row zero"), SheetRow((_cell(200), "no decoder", _cell(50)), "row one")]

    sheet = render_sheet(("a", "b", "c"), rows, 16)

    layout = SheetLayout(2, 3, 16)
    assert sheet.size == layout.size
    pixels = np.asarray(sheet)
    def crop(row: int, column: int) -> np.ndarray:
        left, top, right, bottom = layout.cell_box(row, column)
        return pixels[top:bottom, left:right]
    np.testing.assert_array_equal(crop(0, 0), image)
    np.testing.assert_array_equal(crop(0, 1), _cell(10))  # 4 px upscaled nearest-neighbour
    np.testing.assert_array_equal(crop(1, 2), _cell(50))
    placeholder = crop(0, 2)
    assert len(np.unique(placeholder.reshape(-1, 3), axis=0)) > 1  # a grey cell with its text drawn on it
    assert not np.array_equal(placeholder, crop(1, 1))  # the two placeholder texts differ


def test_sheet_refuses_a_row_with_the_wrong_cell_count() -> None:
    with pytest.raises(ValueError, match="2 cells for 3 columns"):
        render_sheet(("a", "b", "c"), [SheetRow((_cell(1), _cell(2)), "short")], 16)


def test_sheet_refuses_a_cell_that_is_not_rgb() -> None:
    with pytest.raises(ValueError, match="uint8"):
        render_sheet(("a",), [SheetRow((np.zeros((16, 16), dtype=np.uint8),), "grey")], 16)
