"""The endless stream of a Ray Train worker's share of its ``train`` dataset."""

from __future__ import annotations

from collections.abc import Iterator

import numpy as np
import ray.train


def shard_batches(batch_size: int, setting: str, unit: str = "rows") -> Iterator[dict[str, np.ndarray]]:
    """Numpy batches of ``batch_size`` (last partial one dropped) from this worker's shard of
    ``train``, epoch after epoch; RuntimeError naming ``setting`` if an epoch yields no batch."""
    shard = ray.train.get_dataset_shard("train")
    while True:
        seen = False
        for batch in shard.iter_batches(batch_size=batch_size, batch_format="numpy", drop_last=True):
            seen = True
            yield batch
        if not seen:
            raise RuntimeError(
                f"this worker's share of the train split holds fewer than {setting}={batch_size} "
                f"{unit}; lower the batch size or the number of workers, or add data"
            )
