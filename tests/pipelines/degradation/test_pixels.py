from __future__ import annotations

import numpy as np

from pipelines.degradation.pixels import to_float, to_uint8


def test_round_trip_is_lossless() -> None:
    pixels = np.arange(256, dtype=np.uint8).reshape(16, 16, 1).repeat(3, axis=2)
    as_float = to_float(pixels)
    assert as_float.dtype == np.float32 and as_float.max() == 1.0
    np.testing.assert_array_equal(to_uint8(as_float), pixels)


def test_to_uint8_clamps_and_rounds_half_to_even() -> None:
    values = np.array([[[-0.3, 1.7, 0.5 / 255], [1.5 / 255, 2.5 / 255, 0.2 / 255]]], dtype=np.float32)
    np.testing.assert_array_equal(to_uint8(values), [[[0, 255, 0], [2, 2, 0]]])
    assert to_uint8(values[..., 0]).shape == (1, 2)
