from __future__ import annotations

import numpy as np
import pytest

from pipelines.cropping import ImageTooSmallError, random_crop


def make_image(height: int, width: int) -> np.ndarray:
    return np.random.default_rng(0).integers(0, 256, (height, width, 3), dtype=np.uint8)


def test_crop_is_the_slice_its_box_names() -> None:
    image = make_image(50, 70)
    crop = random_crop(image, 32, np.random.default_rng(3), multiple_of=4)
    top, left, height, width = crop.box
    assert (height, width) == (32, 32)
    assert 0 <= top <= 50 - 32 and 0 <= left <= 70 - 32
    assert crop.pixels.shape == (32, 32, 3) and crop.pixels.dtype == np.uint8
    np.testing.assert_array_equal(crop.pixels, image[top : top + 32, left : left + 32])
    assert not np.shares_memory(crop.pixels, image)


def test_same_seed_same_crop_and_positions_vary_with_seed() -> None:
    image = make_image(100, 100)
    first = random_crop(image, 16, np.random.default_rng(7), multiple_of=4)
    again = random_crop(image, 16, np.random.default_rng(7), multiple_of=4)
    assert first.box == again.box
    boxes = {random_crop(image, 16, np.random.default_rng(seed), multiple_of=4).box for seed in range(20)}
    assert len(boxes) > 10


def test_image_exactly_the_crop_size_is_returned_whole() -> None:
    image = make_image(32, 32)
    crop = random_crop(image, 32, np.random.default_rng(0), multiple_of=4)
    assert crop.box == (0, 0, 32, 32)


@pytest.mark.parametrize("shape", [(31, 64), (64, 31)])
def test_too_small_image_raises(shape: tuple[int, int]) -> None:
    with pytest.raises(ImageTooSmallError, match="smaller than the 32x32 crop"):
        random_crop(make_image(*shape), 32, np.random.default_rng(0), multiple_of=4)


def test_size_must_be_a_multiple_of_the_scale() -> None:
    with pytest.raises(ValueError, match="multiple_of=4"):
        random_crop(make_image(64, 64), 30, np.random.default_rng(0), multiple_of=4)
