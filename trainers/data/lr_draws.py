"""Fresh LRs in training (``train.degradation: on_the_fly``): every time a row is seen, a new draw.

Real-ESRGAN degrades at random each time a crop is seen; a stored LR is the same blur, noise and
JPEG every epoch. Here the training stream draws each train row's LR from its stored HR crop with
the preprocess job's own function (:func:`pipelines.degradation.degrade`, same settings as
``preprocess.degradation``) and the generator of (sample id, epoch, ``train.seed``)
(:func:`lr_draw_rng`, a pure function): a rerun draws the same bytes, a resumed run that restarts
epoch ``e`` draws epoch ``e``'s LRs again, and any LR a step saw can be redrawn from its row's id,
the step's ``epoch`` (logged per step) and the run's ``train.seed``. Eval rows keep their stored LR.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from typing import Any

import numpy as np

from pipelines.degradation import DegradationConfig, DegradationResult, degrade, derive_rng
from trainers.data.shard_batches import EpochBatch

LR_DRAW_DERIVATION = "pipelines.degradation.derive_rng(f'{sample_id}:epoch:{epoch}', train.seed)"
"""How an on-the-fly LR's generator is derived (logged with the run's params)."""

RowMap = Callable[[Callable[..., np.ndarray], Iterable[Any], Iterable[Any]], Iterable[np.ndarray]]
"""``map``-like: the builtin (one thread) or ``ThreadPoolExecutor.map`` (cv2 and numpy release the GIL)."""


def lr_draw_key(sample_id: str, epoch: int) -> str:
    """The key of row ``sample_id``'s LR draw in ``epoch`` (hashed with the seed by ``derive_rng``)."""
    return f"{sample_id}:epoch:{int(epoch)}"


def lr_draw_rng(sample_id: str, epoch: int, seed: int) -> np.random.Generator:
    """The generator of row ``sample_id``'s LR in ``epoch`` of a run with ``train.seed`` = ``seed``."""
    return derive_rng(lr_draw_key(sample_id, epoch), seed)


def draw_lr(hr: np.ndarray, sample_id: str, epoch: int, config: DegradationConfig, seed: int) -> DegradationResult:
    """hr (3, H, W) uint8 RGB -> its LR (H / scale, W / scale, 3) uint8 and the draw's parameters."""
    return degrade(np.ascontiguousarray(hr.transpose(1, 2, 0)), config, lr_draw_rng(sample_id, epoch, seed))


def draw_lr_batch(
    batch: dict[str, np.ndarray], epoch: int, config: DegradationConfig, seed: int, map_rows: RowMap = map
) -> dict[str, np.ndarray]:
    """``batch`` (``hr`` (B, 3, H, W) uint8, ``sample_id`` (B,)) with ``lr`` (B, 3, H / s, W / s)
    uint8 drawn for ``epoch`` (any stored ``lr`` is replaced) and ``lr_epoch`` (B,) int64."""

    def one(hr: np.ndarray, sample_id: str) -> np.ndarray:
        return draw_lr(hr, str(sample_id), epoch, config, seed).lr

    lrs = list(map_rows(one, batch["hr"], batch["sample_id"]))
    lr = np.ascontiguousarray(np.stack(lrs).transpose(0, 3, 1, 2))
    return {**batch, "lr": lr, "lr_epoch": np.full(len(lr), epoch, dtype=np.int64)}


def fresh_lr_batches(
    stream: Iterator[EpochBatch], config: DegradationConfig, seed: int, map_rows: RowMap = map
) -> Iterator[EpochBatch]:
    """Each batch of ``stream`` with the LRs of its epoch drawn (:func:`draw_lr_batch`)."""
    for item in stream:
        yield EpochBatch(item.epoch, draw_lr_batch(item.batch, item.epoch, config, seed, map_rows))
