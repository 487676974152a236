from __future__ import annotations

import time
from collections.abc import Iterator

import pytest

from trainers.harness.prefetch import prefetched


def test_items_keep_their_order_and_the_producer_runs_at_most_depth_ahead() -> None:
    produced: list[int] = []

    def numbers() -> Iterator[int]:
        for number in range(10):
            produced.append(number)
            yield number

    stream = prefetched(numbers(), depth=2)
    assert next(stream) == 0
    time.sleep(0.2)  # give the producer time to run ahead
    assert len(produced) <= 1 + 2 + 1  # the consumed item, a full queue, one blocked in put
    assert list(stream) == list(range(1, 10))


def test_an_error_of_the_source_is_raised_to_the_consumer_after_the_items_before_it() -> None:
    def failing() -> Iterator[int]:
        yield 1
        raise RuntimeError("shard too small")

    stream = prefetched(failing(), depth=3)
    assert next(stream) == 1
    with pytest.raises(RuntimeError, match="shard too small"):
        next(stream)
    with pytest.raises(ValueError, match="depth"):
        next(prefetched(iter([1]), depth=0))
