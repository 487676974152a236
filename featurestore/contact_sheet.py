"""Pure layout of a contact sheet: a grid of equal square image cells (Pillow, its default font).

A header line names the columns; each row is one sample, its cells left to right and a text line
under it (sample id, split, caption). A cell is an (H, W, 3) uint8 RGB array, drawn at the cell
size (resized nearest-neighbour when it is not already that size, so a cell of the sheet's size
is its array pixel for pixel), or a placeholder: ``None`` draws :data:`EMPTY` (the modality is
absent from the row), a string draws that text. Nothing here reads a store or runs a model.
"""

from __future__ import annotations

import textwrap
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from PIL import Image, ImageDraw, ImageFont

EMPTY = "m_empty"
"""Placeholder text of a cell whose modality the row lacks."""
_FONT_SIZE = 11
_LINE = 14
"""Pixel height of one text line."""
_PAD = 4
_LABEL_LINES = 2
_BACKGROUND = (255, 255, 255)
_PLACEHOLDER = (224, 224, 224)
_TEXT = (0, 0, 0)

Cell = np.ndarray | str | None
"""An RGB uint8 image, a placeholder text, or None for :data:`EMPTY`."""


@dataclass(frozen=True)
class SheetRow:
    """One row of the sheet: its cells (one per column) and the text under it."""

    cells: tuple[Cell, ...]
    label: str


@dataclass(frozen=True)
class SheetLayout:
    """Where everything is on a sheet of ``rows`` x ``columns`` cells of ``cell`` pixels."""

    rows: int
    columns: int
    cell: int

    def __post_init__(self) -> None:
        if self.rows < 0 or self.columns < 1 or self.cell < 8:
            raise ValueError(f"a sheet needs >= 1 column of cells >= 8 px, got {self.columns} x {self.cell} px")

    @property
    def header(self) -> int:
        """Height of the column-name line at the top."""
        return _LINE + _PAD

    @property
    def row_height(self) -> int:
        """A row of cells and its text lines."""
        return self.cell + _LABEL_LINES * _LINE + 2 * _PAD

    @property
    def size(self) -> tuple[int, int]:
        """(width, height) of the whole sheet in pixels."""
        return (_PAD + self.columns * (self.cell + _PAD), self.header + self.rows * self.row_height)

    def cell_box(self, row: int, column: int) -> tuple[int, int, int, int]:
        """(left, top, right, bottom) of one cell, right and bottom exclusive (a Pillow crop box)."""
        left = _PAD + column * (self.cell + _PAD)
        top = self.header + row * self.row_height
        return (left, top, left + self.cell, top + self.cell)


def _font() -> ImageFont.ImageFont | ImageFont.FreeTypeFont:
    return ImageFont.load_default(size=_FONT_SIZE)


def _fit(draw: ImageDraw.ImageDraw, text: str, width: int, lines: int) -> list[str]:
    """``text`` wrapped into at most ``lines`` lines of ``width`` pixels (the last one cut with '...')."""
    average = max(1.0, draw.textlength("abcdefghijklmnopqrstuvwxyz", font=_font()) / 26)
    wrapped = textwrap.wrap(" ".join(text.split()), max(4, int(width / average))) or [""]
    shown = wrapped[:lines]
    if len(wrapped) > lines:
        shown[-1] = shown[-1][:-3].rstrip() + "..."
    return shown


def _cell_image(cell: np.ndarray, size: int) -> Image.Image:
    if cell.ndim != 3 or cell.shape[2] != 3 or cell.dtype != np.uint8:
        raise ValueError(f"a sheet cell must be (H, W, 3) uint8, got {cell.shape} {cell.dtype}")
    image = Image.fromarray(cell, "RGB")
    return image if image.size == (size, size) else image.resize((size, size), Image.Resampling.NEAREST)


def _placeholder(draw: ImageDraw.ImageDraw, box: tuple[int, int, int, int], text: str) -> None:
    draw.rectangle((box[0], box[1], box[2] - 1, box[3] - 1), fill=_PLACEHOLDER)
    lines = _fit(draw, text, box[2] - box[0] - 2 * _PAD, 3)
    top = (box[1] + box[3]) // 2 - len(lines) * _LINE // 2
    for index, line in enumerate(lines):
        draw.text((box[0] + _PAD, top + index * _LINE), line, fill=_TEXT, font=_font())


def render_sheet(headers: Sequence[str], rows: Sequence[SheetRow], cell: int) -> Image.Image:
    """The sheet as an RGB image; its geometry is ``SheetLayout(len(rows), len(headers), cell)``.

    Raises ValueError if a row does not have one cell per header or a cell is not RGB uint8.
    """
    layout = SheetLayout(len(rows), len(headers), cell)
    sheet = Image.new("RGB", layout.size, _BACKGROUND)
    draw = ImageDraw.Draw(sheet)
    for column, header in enumerate(headers):
        left = layout.cell_box(0, column)[0]
        draw.text((left, _PAD // 2), _fit(draw, header, cell, 1)[0], fill=_TEXT, font=_font())
    for index, row in enumerate(rows):
        if len(row.cells) != len(headers):
            raise ValueError(f"sheet row {index} has {len(row.cells)} cells for {len(headers)} columns")
        for column, found in enumerate(row.cells):
            box = layout.cell_box(index, column)
            if isinstance(found, np.ndarray):
                sheet.paste(_cell_image(found, cell), box[:2])
            else:
                _placeholder(draw, box, EMPTY if found is None else found)
        width = layout.size[0] - 2 * _PAD
        for line_index, line in enumerate(_fit(draw, row.label, width, _LABEL_LINES)):
            draw.text((_PAD, box[3] + _PAD // 2 + line_index * _LINE), line, fill=_TEXT, font=_font())
    return sheet
