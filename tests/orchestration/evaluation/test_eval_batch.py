"""Batches are planned by LR size, independent of how many workers run them."""

from __future__ import annotations

import numpy as np

from orchestration.evaluation.eval_batch import EvalItem, batch_request, image_size, plan_batches
from pipelines.feature_rows import encode_png


def _item(name: str, width: int, height: int) -> EvalItem:
    lr = np.zeros((height, width, 3), np.uint8)
    return EvalItem(name, encode_png(lr), encode_png(np.zeros((height * 4, width * 4, 3), np.uint8)), caption=name)


def test_batches_hold_one_lr_size_at_most_batch_size_rows_sizes_ascending() -> None:
    items = [_item("a", 20, 10), _item("b", 8, 8), _item("c", 20, 10), _item("d", 20, 10), _item("e", 8, 8)]
    assert image_size(items[0].lr_png) == (20, 10)
    assert plan_batches(items, 2) == [[1, 4], [0, 2], [3]]
    assert plan_batches(items, 1) == [[1], [4], [0], [2], [3]]
    assert plan_batches(items, 8) == [[1, 4], [0, 2, 3]]


def test_batch_request_carries_each_lr_and_its_caption() -> None:
    request = batch_request([_item("a", 8, 8), _item("", 8, 8)])
    assert list(request.columns) == ["image", "caption"] and list(request["caption"]) == ["a", ""]
