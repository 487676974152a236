from __future__ import annotations

import pytest
import torch

from trainers.data.encoding_cache import EncodingCache
from trainers.models.training_step import EncodedPair


class CountingEncoder:
    """Encodes row ``i`` of a batch whose rows are the values ``values[i]`` as constant tensors."""

    def __init__(self) -> None:
        self.calls: list[list[float]] = []

    def for_batch(self, values: list[float]):
        def encode_rows(rows: torch.Tensor) -> EncodedPair:
            picked = [values[i] for i in rows.tolist()]
            self.calls.append(picked)
            column = torch.tensor(picked).reshape(-1, 1, 1, 1)
            return EncodedPair(column.expand(-1, 4, 2, 2).clone(), None, (column * 10).expand(-1, 4, 2, 2).clone())

        return encode_rows


def test_a_seen_row_is_not_encoded_again_and_comes_back_in_batch_order() -> None:
    cache, encoder = EncodingCache(capacity=8), CountingEncoder()
    cache.encode(["a", "b"], encoder.for_batch([1.0, 2.0]))
    out = cache.encode(["c", "a", "b"], encoder.for_batch([3.0, 1.0, 2.0]))
    assert encoder.calls == [[1.0, 2.0], [3.0]]
    assert out.latent_mean[:, 0, 0, 0].tolist() == [3.0, 1.0, 2.0]
    assert out.condition[:, 0, 0, 0].tolist() == [30.0, 10.0, 20.0]
    assert (cache.hits, cache.misses) == (2, 3) and cache.hit_rate == pytest.approx(0.4)


def test_the_least_recently_used_row_goes_first_and_size_stays_bounded() -> None:
    cache, encoder = EncodingCache(capacity=2), CountingEncoder()
    cache.encode(["a"], encoder.for_batch([1.0]))
    cache.encode(["b"], encoder.for_batch([2.0]))
    cache.encode(["a"], encoder.for_batch([1.0]))  # a is now more recent than b
    cache.encode(["c"], encoder.for_batch([3.0]))  # evicts b
    assert list(cache.entries) == ["a", "c"]
    cache.encode(["b"], encoder.for_batch([2.0]))
    assert encoder.calls == [[1.0], [2.0], [3.0], [2.0]]


def test_capacity_zero_encodes_every_batch_whole() -> None:
    cache, encoder = EncodingCache(capacity=0), CountingEncoder()
    for _ in range(2):
        cache.encode(["a", "b"], encoder.for_batch([1.0, 2.0]))
    assert encoder.calls == [[1.0, 2.0], [1.0, 2.0]] and not cache.entries and cache.hit_rate == 0.0


def test_a_cached_row_is_a_copy_not_a_view_of_its_batch() -> None:
    cache = EncodingCache(capacity=4)
    batch = EncodedPair(torch.zeros(2, 4, 2, 2), None, torch.zeros(2, 4, 2, 2))
    cache.encode(["a", "b"], lambda rows: batch)  # rows 0 and 1: the batch itself
    batch.latent_mean.fill_(7.0)
    assert cache.encode(["a"], lambda rows: pytest.fail("a is cached")).latent_mean.abs().sum() == 0


def test_a_negative_capacity_is_refused() -> None:
    with pytest.raises(ValueError, match=">= 0"):
        EncodingCache(capacity=-1)
