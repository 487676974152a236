from __future__ import annotations

import pytest
import torch

from pipelines.pixel_range import to_model_range


def test_uint8_maps_onto_minus_one_one() -> None:
    out = to_model_range(torch.tensor([0, 255, 128], dtype=torch.uint8))
    assert out.dtype == torch.float32
    assert out[0] == -1.0 and out[1] == 1.0 and abs(float(out[2]) - 0.003921) < 1e-5


def test_dtype_is_chosen_and_floats_are_refused() -> None:
    assert to_model_range(torch.zeros(2, dtype=torch.uint8), torch.bfloat16).dtype == torch.bfloat16
    with pytest.raises(TypeError, match="uint8"):
        to_model_range(torch.zeros(2))
