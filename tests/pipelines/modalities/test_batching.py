from __future__ import annotations

import numpy as np

from pipelines.modalities.batching import group_by_shape


def test_groups_follow_first_appearance_and_keep_order() -> None:
    images = [np.zeros((4, 4, 3)), np.zeros((2, 4, 3)), np.zeros((4, 4, 3)), np.zeros((2, 4, 3)), np.zeros((8, 8, 3))]
    assert group_by_shape(images) == [[0, 2], [1, 3], [4]]
    assert group_by_shape([]) == []


def test_predict_by_shape_runs_each_shape_once_and_keeps_order() -> None:
    from pipelines.modalities.batching import predict_by_shape

    images = [np.zeros((2, 2, 3)), np.zeros((4, 4, 3)), np.ones((2, 2, 3))]
    calls: list[int] = []

    def predict(batch: list[np.ndarray]) -> list[float]:
        calls.append(len(batch))
        return [float(image.shape[0] * 10 + image.max()) for image in batch]

    assert predict_by_shape(images, predict) == [20.0, 40.0, 21.0]
    assert sorted(calls) == [1, 2]
