from __future__ import annotations

import numpy as np

from pipelines.modalities.batching import group_by_shape


def test_groups_follow_first_appearance_and_keep_order() -> None:
    images = [np.zeros((4, 4, 3)), np.zeros((2, 4, 3)), np.zeros((4, 4, 3)), np.zeros((2, 4, 3)), np.zeros((8, 8, 3))]
    assert group_by_shape(images) == [[0, 2], [1, 3], [4]]
    assert group_by_shape([]) == []
