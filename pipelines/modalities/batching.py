"""Splitting a batch of images into same-size groups for model inference."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import TypeVar

import numpy as np

T = TypeVar("T")


def group_by_shape(images: Sequence[np.ndarray]) -> list[list[int]]:
    """Indices of ``images`` grouped by array shape, groups in order of first appearance.

    Image processors resize and pad per batch; running each same-size group as its own batch
    keeps padding out of the predictions and lets post-processing restore one target size.
    """
    groups: dict[tuple[int, ...], list[int]] = {}
    for index, image in enumerate(images):
        groups.setdefault(tuple(image.shape), []).append(index)
    return list(groups.values())


def predict_by_shape(
    images: Sequence[np.ndarray], predict_same_size: Callable[[list[np.ndarray]], list[T]]
) -> list[T]:
    """Run ``predict_same_size`` once per same-shape group; results come back in input order."""
    results: dict[int, T] = {}
    for group in group_by_shape(images):
        results.update(zip(group, predict_same_size([images[i] for i in group])))
    return [results[i] for i in range(len(images))]
