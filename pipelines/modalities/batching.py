"""Splitting a batch of images into same-size groups for model inference."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np


def group_by_shape(images: Sequence[np.ndarray]) -> list[list[int]]:
    """Indices of ``images`` grouped by array shape, groups in order of first appearance.

    Image processors resize and pad per batch; running each same-size group as its own batch
    keeps padding out of the predictions and lets post-processing restore one target size.
    """
    groups: dict[tuple[int, ...], list[int]] = {}
    for index, image in enumerate(images):
        groups.setdefault(tuple(image.shape), []).append(index)
    return list(groups.values())
