from __future__ import annotations

import numpy as np
import pytest
import torch

from featurestore.contact_sheet import SheetLayout
from trainers.harness.worker_loop import LoopSchedule
from trainers.recipes.sr_grid import GRID_HEADERS, sr_grid, to_uint8_images
from trainers.recipes.train_config import TrainConfig


def test_grid_holds_lr_enlarged_sr_and_hr_per_row() -> None:
    rng = np.random.default_rng(0)
    lr = rng.integers(0, 256, (2, 4, 4, 3), dtype=np.uint8)
    sr, hr = (rng.integers(0, 256, (2, 16, 16, 3), dtype=np.uint8) for _ in range(2))

    grid = sr_grid(lr, sr, hr, ["a", "b"])

    layout = SheetLayout(2, len(GRID_HEADERS), 16)
    assert grid.shape == (*layout.size[::-1], 3)
    for row in range(2):
        cells = [grid[t:b, l:r] for l, t, r, b in (layout.cell_box(row, c) for c in range(3))]
        np.testing.assert_array_equal(cells[0], lr[row].repeat(4, 0).repeat(4, 1))
        np.testing.assert_array_equal(cells[1], sr[row])
        np.testing.assert_array_equal(cells[2], hr[row])
    with pytest.raises(ValueError, match="as many"):
        sr_grid(lr, sr, hr, ["a"])


def test_model_range_back_to_uint8_clips() -> None:
    pixels = torch.tensor([-2.0, -1.0, 0.0, 1.0, 3.0]).reshape(1, 1, 1, 5).expand(1, 3, 1, 5)
    assert to_uint8_images(pixels)[0, 0, :, 0].tolist() == [0, 0, 128, 255, 255]


def test_image_steps_and_their_validation() -> None:
    schedule = LoopSchedule(steps=10, checkpoint_every=5, log_every=1, items_per_step=1, image_every=4)
    assert [step for step in range(1, 11) if schedule.logs_images(step)] == [4, 8, 10]
    assert not LoopSchedule(steps=10, checkpoint_every=5, log_every=1, items_per_step=1).logs_images(10)
    with pytest.raises(ValueError, match="train.image_every"):
        TrainConfig(image_every=0)
    with pytest.raises(ValueError, match="train.image_sample_steps"):
        TrainConfig(image_sample_steps=0)
