"""A bounded per-worker cache of the frozen autoencoder's encodings, keyed by sample id.

Feature-store rows are fixed crops and the autoencoder is frozen, so a row's ``EncodedPair`` (HR
posterior moments, LR condition) is the same every epoch: training on a small snapshot for many
epochs (the quickstart: 48 rows, about 80 epochs) spends a quarter of each step re-encoding what it
has already encoded. The cache keeps the encodings of up to ``capacity`` rows, least recently
used out first, so memory is bounded whatever the snapshot's size (``train.encoding_cache_rows``;
0 turns it off). The posterior is sampled per step from the cached moments, so an AutoencoderKL
still sees a fresh latent draw each time.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Callable, Sequence

import torch

from trainers.models.training_step import EncodedPair


class EncodingCache:
    def __init__(self, capacity: int) -> None:
        if capacity < 0:
            raise ValueError(f"encoding cache capacity must be >= 0 rows, got {capacity}")
        self.capacity = capacity
        self.entries: OrderedDict[str, EncodedPair] = OrderedDict()
        self.hits = 0
        self.misses = 0

    def encode(self, keys: Sequence[str], encode_rows: Callable[[torch.Tensor], EncodedPair]) -> EncodedPair:
        """The encodings of the batch rows named ``keys``; ``encode_rows(index)`` encodes the rows at
        ``index`` (int64) of the batch, called only for rows not cached (once, or not at all)."""
        if self.capacity == 0:
            self.misses += len(keys)
            return encode_rows(torch.arange(len(keys)))
        missing = {key: row for row, key in enumerate(keys) if key not in self.entries}
        if missing:
            fresh = encode_rows(torch.tensor(list(missing.values()), dtype=torch.int64))
            for position, key in enumerate(missing):
                self.entries[key] = fresh.rows(torch.tensor([position]))  # a copy, not a view of the batch
        self.misses += len(missing)
        self.hits += len(keys) - len(missing)
        batch = EncodedPair.stack([self.entries[key] for key in keys])
        for key in keys:
            self.entries.move_to_end(key)
        while len(self.entries) > self.capacity:
            self.entries.popitem(last=False)
        return batch

    @property
    def hit_rate(self) -> float:
        total = self.hits + self.misses
        return self.hits / total if total else 0.0
