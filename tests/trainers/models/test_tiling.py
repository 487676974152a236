from __future__ import annotations

import pytest
import torch

from trainers.models.tiling import TileBox, ramp_weights, tile_boxes, tile_starts, tiled_apply


@pytest.mark.parametrize(("length", "tile", "overlap"), [(64, 64, 8), (100, 32, 8), (65, 32, 0), (40, 32, 16)])
def test_tiles_cover_the_length_with_the_overlap(length: int, tile: int, overlap: int) -> None:
    starts = tile_starts(length, tile, overlap)
    covered = torch.zeros(length, dtype=torch.bool)
    for start in starts:
        assert 0 <= start and start + min(tile, length) <= length
        covered[start : start + tile] = True
    assert covered.all()
    for previous, start in zip(starts, starts[1:]):
        assert previous + tile - start >= overlap


def test_ramp_weights_are_positive_and_one_inside() -> None:
    weights = ramp_weights(16, 16, 4)
    assert weights.min() > 0 and weights[8, 8] == 1 and weights[0, 0] == pytest.approx(1 / 25)


def test_tiled_per_pixel_function_equals_untiled() -> None:
    inputs = torch.randn(2, 3, 50, 70, generator=torch.Generator().manual_seed(0))

    def fn(x: torch.Tensor, box: TileBox) -> torch.Tensor:
        return torch.cat([x * 2 + 1, x.sum(1, keepdim=True)], 1)

    whole = fn(inputs, (0, 0, 50, 70))
    torch.testing.assert_close(tiled_apply(fn, inputs, tile=32, overlap=8), whole, rtol=1e-5, atol=1e-5)


def test_tiles_are_no_larger_than_the_tile_size() -> None:
    seen: list[tuple[int, int]] = []

    def fn(x: torch.Tensor, box: TileBox) -> torch.Tensor:
        seen.append(tuple(x.shape[-2:]))
        assert box[2:] == tuple(x.shape[-2:])
        return x

    tiled_apply(fn, torch.zeros(1, 1, 20, 48), tile=16, overlap=4)
    assert seen and all(h <= 16 and w <= 16 for h, w in seen) and len(seen) == 2 * 4


def test_tile_boxes_are_the_windows_fn_is_given() -> None:
    given: list[TileBox] = []

    def fn(x: torch.Tensor, box: TileBox) -> torch.Tensor:
        given.append(box)
        return x

    tiled_apply(fn, torch.zeros(1, 1, 20, 48), tile=16, overlap=4)
    assert given == tile_boxes(20, 48, 16, 4) and given[0] == (0, 0, 16, 16) and given[-1] == (4, 32, 16, 16)
    assert tile_boxes(20, 48, 64, 4) == [(0, 0, 20, 48)]
