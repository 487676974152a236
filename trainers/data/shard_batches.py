"""The endless stream of a Ray Train worker's share of its ``train`` dataset."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

import numpy as np
import ray.train
from ray.data import DataIterator


@dataclass(frozen=True)
class EpochBatch:
    """A numpy batch of training rows and the epoch (0-based pass over the worker's shard) it belongs to."""

    epoch: int
    batch: dict[str, np.ndarray]


def epoch_batches(
    batch_size: int, setting: str, unit: str = "rows", first_epoch: int = 0, shard: DataIterator | None = None
) -> Iterator[EpochBatch]:
    """Numpy batches of ``batch_size`` (last partial one dropped) from this worker's shard of
    ``train`` (``shard``, or looked up when the first batch is asked for), epoch after epoch from
    ``first_epoch`` (a resumed run restarts the epoch it stopped in), each with its epoch;
    RuntimeError naming ``setting`` if an epoch yields no batch."""
    shard = shard if shard is not None else ray.train.get_dataset_shard("train")
    epoch = first_epoch
    while True:
        seen = False
        for batch in shard.iter_batches(batch_size=batch_size, batch_format="numpy", drop_last=True):
            seen = True
            yield EpochBatch(epoch, batch)
        if not seen:
            raise RuntimeError(
                f"this worker's share of the train split holds fewer than {setting}={batch_size} "
                f"{unit}; lower the batch size or the number of workers, or add data"
            )
        epoch += 1


def shard_batches(batch_size: int, setting: str, unit: str = "rows") -> Iterator[dict[str, np.ndarray]]:
    """The batches of :func:`epoch_batches`, without their epochs."""
    for item in epoch_batches(batch_size, setting, unit):
        yield item.batch
