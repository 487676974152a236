from __future__ import annotations

import numpy as np
import pytest
from skimage import data

from pipelines.modalities.edges import canny_edges


@pytest.fixture(scope="module")
def photo() -> np.ndarray:
    return data.astronaut()  # a real (512, 512, 3) uint8 photo shipped inside scikit-image


def test_edges_of_a_real_photo_are_binary_and_non_trivial(photo: np.ndarray) -> None:
    edges = canny_edges(photo)
    assert edges.shape == photo.shape[:2] and edges.dtype == np.uint8
    assert set(np.unique(edges).tolist()) == {0, 255}
    assert 0.01 < (edges == 255).mean() < 0.3


def test_lower_thresholds_and_no_blur_find_more_edges(photo: np.ndarray) -> None:
    default = (canny_edges(photo) == 255).sum()
    assert (canny_edges(photo, low=50, high=100) == 255).sum() > default
    assert (canny_edges(photo, blur_sigma=2.0) == 255).sum() < default


def test_flat_image_has_no_edges_and_a_step_has_one() -> None:
    flat = np.full((32, 32, 3), 128, dtype=np.uint8)
    assert not canny_edges(flat).any()
    step = flat.copy()
    step[:, 16:] = 250
    columns = np.flatnonzero(canny_edges(step).any(axis=0))
    assert columns.size > 0 and set(columns.tolist()) <= {15, 16}


def test_invalid_inputs_raise() -> None:
    with pytest.raises(ValueError, match="low <= high"):
        canny_edges(np.zeros((8, 8, 3), np.uint8), low=200, high=100)
    with pytest.raises(ValueError, match="uint8 RGB"):
        canny_edges(np.zeros((8, 8), np.uint8))
