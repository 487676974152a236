"""Overlapping-tile evaluation of a per-pixel-aligned network (the UNet on latents larger than it was trained on).

The input is cut into tiles of at most ``tile`` x ``tile`` pixels overlapping by ``overlap``; each
output tile is weighted by a ramp that falls towards its borders and the weighted sum is
normalised, so seams blend smoothly and a network that acts per pixel gives the untiled result.
"""

from __future__ import annotations

from collections.abc import Callable

import torch


def tile_starts(length: int, tile: int, overlap: int) -> list[int]:
    """Start offsets of tiles of size ``tile`` covering [0, length) with at least ``overlap`` overlap."""
    if tile >= length:
        return [0]
    if not 0 <= overlap < tile:
        raise ValueError(f"tile overlap must be in [0, {tile}), got {overlap}")
    stride = tile - overlap
    starts = list(range(0, length - tile, stride))
    return starts + [length - tile]


def ramp_weights(height: int, width: int, overlap: int) -> torch.Tensor:
    """(height, width) float32 weights: 1 inside, ramping to 1 / (overlap + 1) over ``overlap`` border pixels."""

    def ramp(length: int) -> torch.Tensor:
        position = torch.arange(length, dtype=torch.float32)
        distance = torch.minimum(position, length - 1 - position)
        return ((distance + 1) / (overlap + 1)).clamp(max=1.0)

    return ramp(height)[:, None] * ramp(width)[None, :]


TileBox = tuple[int, int, int, int]
"""(top, left, height, width) of one tile."""


def tile_boxes(height: int, width: int, tile: int, overlap: int) -> list[TileBox]:
    """The tiles :func:`tiled_apply` cuts a (height, width) input into, row by row; one box of the
    whole input when it fits in a tile."""
    tile_h, tile_w = min(tile, height), min(tile, width)
    return [
        (top, left, tile_h, tile_w)
        for top in tile_starts(height, tile, overlap)
        for left in tile_starts(width, tile, overlap)
    ]


def tiled_apply(
    fn: Callable[[torch.Tensor, TileBox], torch.Tensor], inputs: torch.Tensor, tile: int, overlap: int
) -> torch.Tensor:
    """Apply ``fn`` ((B, C, h, w) window and its box -> (B, C', h, w)) tile by tile to (B, C, H, W)
    and blend: (B, C', H, W). ``fn`` gets the box so it can condition each tile on its own region."""
    height, width = inputs.shape[-2:]
    boxes = tile_boxes(height, width, tile, overlap)
    if len(boxes) == 1:
        return fn(inputs, boxes[0])
    output: torch.Tensor | None = None
    total = torch.zeros((height, width), dtype=torch.float32, device=inputs.device)
    weights = ramp_weights(boxes[0][2], boxes[0][3], overlap).to(inputs.device)
    for box in boxes:
        top, left, tile_h, tile_w = box
        window = (..., slice(top, top + tile_h), slice(left, left + tile_w))
        result = fn(inputs[window], box).float()
        if output is None:
            output = torch.zeros((*result.shape[:2], height, width), dtype=torch.float32, device=inputs.device)
        output[window] += result * weights
        total[window[1:]] += weights
    assert output is not None
    return (output / total).to(inputs.dtype)
