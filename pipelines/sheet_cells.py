"""The cells of one contact-sheet row, from a stored samples row (``featurestore.contact_sheet`` lays them out).

Columns (:data:`SHEET_HEADERS`): HR | LR (nearest-neighbour, to the HR size) | depth (OpenCV's
inferno colormap) | segmentation (the fixed palette the VQ tokenizer sees) | edges | each spatial
modality decoded back from its VQ tokens. Stored images are shown as stored: the HR cell is the
HR PNG pixel for pixel. A modality the row lacks is ``None`` (drawn as ``m_empty``); a PNG that
does not decode is a placeholder text. Pure functions, except :func:`token_cells`, which runs the
VQ decoder.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import cv2
import numpy as np
import torch
from diffusers import VQModel

from featurestore.contact_sheet import Cell
from featurestore.modality import SPATIAL_MODALITIES, Modality
from pipelines.modality_codes import decode_codes, segmentation_palette
from pipelines.modality_map_png import decode_modality_png

STORED_HEADERS: tuple[str, ...] = ("HR", "LR (nearest)", *(m.value for m in SPATIAL_MODALITIES))
TOKEN_HEADERS: tuple[str, ...] = tuple(f"{m.value} from VQ" for m in SPATIAL_MODALITIES)
SHEET_HEADERS: tuple[str, ...] = (*STORED_HEADERS, *TOKEN_HEADERS)
SHEET_COLUMNS: tuple[str, ...] = (
    "sample_id", "split", "hr_png", "lr_png", Modality.CAPTION.map_column,
    *(column for m in SPATIAL_MODALITIES for column in (m.map_column, m.tokens_column)),
)
"""The stored columns a sheet reads: in every snapshot any version of the schema wrote."""
UNDECODABLE = "undecodable PNG"
NO_DECODER = "no VQ decoder"


def decode_rgb(blob: bytes) -> np.ndarray:
    """An RGB PNG (hr_png, lr_png) -> (H, W, 3) uint8; ValueError if it does not decode."""
    bgr = cv2.imdecode(np.frombuffer(blob, dtype=np.uint8), cv2.IMREAD_COLOR)
    if bgr is None:
        raise ValueError("not a decodable PNG")
    return cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB)


def colour_map(modality_map: np.ndarray, modality: Modality) -> np.ndarray:
    """A decoded (H, W) map -> (H, W, 3) uint8 RGB: depth through the inferno colormap (near = bright
    for relative depth as stored), segmentation through ``segmentation_palette``, edges grey."""
    if modality is Modality.DEPTH:
        grey = np.rint(np.clip(modality_map, 0.0, 1.0) * 255.0).astype(np.uint8)
        return cv2.cvtColor(cv2.applyColorMap(grey, cv2.COLORMAP_INFERNO), cv2.COLOR_BGR2RGB)
    if modality is Modality.SEGMENTATION:
        return segmentation_palette(modality_map)
    return np.repeat(modality_map[:, :, None], 3, axis=2)


def _map_cell(blob: bytes | None, modality: Modality) -> Cell:
    if blob is None:
        return None
    try:
        return colour_map(decode_modality_png(blob, modality), modality)
    except ValueError:
        return UNDECODABLE


def _image_cell(blob: bytes | None, side: int | None = None) -> Cell:
    if blob is None:
        return None
    try:
        image = decode_rgb(blob)
    except ValueError:
        return UNDECODABLE
    return image if side is None else cv2.resize(image, (side, side), interpolation=cv2.INTER_NEAREST)


def hr_side(row: Mapping[str, Any]) -> int | None:
    """The HR crop's side (its height), or None if the HR PNG does not decode."""
    found = _image_cell(row.get("hr_png"))
    return found.shape[0] if isinstance(found, np.ndarray) else None


def stored_cells(row: Mapping[str, Any]) -> tuple[Cell, ...]:
    """The :data:`STORED_HEADERS` cells of one samples row (a dict of :data:`SHEET_COLUMNS`)."""
    side = hr_side(row)
    return (
        _image_cell(row.get("hr_png")),
        _image_cell(row.get("lr_png"), side),
        *(_map_cell(row.get(m.map_column), m) for m in SPATIAL_MODALITIES),
    )


def reconstruction_rgb(decoded: torch.Tensor) -> np.ndarray:
    """(N, 3, H, W) decoder output in [-1, 1] (clipped) -> (N, H, W, 3) uint8."""
    pixels = ((decoded.detach().float().cpu() + 1.0) * 127.5).clamp(0.0, 255.0).round()
    return pixels.to(torch.uint8).permute(0, 2, 3, 1).numpy()


def token_cells(vq: VQModel | None, rows: Sequence[Mapping[str, Any]], side: int) -> list[tuple[Cell, ...]]:
    """The :data:`TOKEN_HEADERS` cells of each row: its stored VQ codes decoded (one batch per
    modality), area-resized to ``side``; ``None`` where a row lacks the tokens, :data:`NO_DECODER`
    for every cell without ``vq``."""
    cells: list[list[Cell]] = [[None] * len(SPATIAL_MODALITIES) for _ in rows]
    for position, modality in enumerate(SPATIAL_MODALITIES):
        present = [i for i, row in enumerate(rows) if row.get(modality.tokens_column) is not None]
        if vq is None:
            for i in present:
                cells[i][position] = NO_DECODER
            continue
        if not present:
            continue
        codes = torch.tensor([list(rows[i][modality.tokens_column]) for i in present], dtype=torch.long)
        for i, image in zip(present, reconstruction_rgb(decode_codes(vq, codes))):
            cells[i][position] = cv2.resize(image, (side, side), interpolation=cv2.INTER_AREA)
    return [tuple(found) for found in cells]


def row_label(row: Mapping[str, Any]) -> str:
    """The text under a row: split, sample id, caption (or ``no caption``)."""
    caption = row.get(Modality.CAPTION.map_column) or "no caption"
    return f"[{row.get('split', '?')}] {row.get('sample_id', '?')}: {caption}"
