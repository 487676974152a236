"""On-the-fly LR draws: the pure seed and feed functions (no Ray)."""

from __future__ import annotations

from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor

import numpy as np
import pytest

from pipelines.degradation import DegradationConfig, degrade, derive_rng
from trainers.data.lr_draws import draw_lr, draw_lr_batch, fresh_lr_batches, lr_draw_key, lr_draw_rng
from trainers.data.shard_batches import EpochBatch

IDS = np.array(["row-a", "row-b", "row-c"])
SEED = 7


def _hr(rows: int = 3, size: int = 32) -> np.ndarray:
    return np.random.default_rng(0).integers(0, 256, (rows, 3, size, size), dtype=np.uint8)


def _stream(first_epoch: int, epochs: int) -> Iterator[EpochBatch]:
    """What ``epoch_batches`` yields: the same rows (in two batches) every epoch, from ``first_epoch``."""
    hr = _hr()
    for epoch in range(first_epoch, first_epoch + epochs):
        yield EpochBatch(epoch, {"hr": hr[:2], "sample_id": IDS[:2]})
        yield EpochBatch(epoch, {"hr": hr[2:], "sample_id": IDS[2:]})


def _lrs(stream: Iterator[EpochBatch], seed: int = SEED) -> list[tuple[int, str, bytes]]:
    return [
        (item.epoch, str(sample_id), lr.tobytes())
        for item in fresh_lr_batches(stream, DegradationConfig(), seed)
        for sample_id, lr in zip(item.batch["sample_id"], item.batch["lr"])
    ]


def test_the_draw_is_the_preprocess_degradation_with_the_generator_of_row_epoch_and_seed() -> None:
    hr = _hr(1)[0]
    drawn = draw_lr(hr, "row-a", 3, DegradationConfig(), SEED)
    expected = degrade(hr.transpose(1, 2, 0).copy(), DegradationConfig(), derive_rng("row-a:epoch:3", SEED))
    np.testing.assert_array_equal(drawn.lr, expected.lr)
    assert drawn.params == expected.params
    assert lr_draw_key("row-a", 3) == "row-a:epoch:3"
    assert lr_draw_rng("row-a", 3, SEED).integers(1 << 30) == derive_rng("row-a:epoch:3", SEED).integers(1 << 30)


def test_two_epochs_draw_different_lrs_for_the_same_row() -> None:
    lrs = _lrs(_stream(0, 2))
    by_row: dict[str, list[bytes]] = {}
    for _, sample_id, lr in lrs:
        by_row.setdefault(sample_id, []).append(lr)
    assert sorted(by_row) == sorted(IDS)
    assert all(len(seen) == 2 and seen[0] != seen[1] for seen in by_row.values())


def test_a_rerun_with_the_same_seed_draws_byte_identical_lrs_and_another_seed_does_not() -> None:
    assert _lrs(_stream(0, 2)) == _lrs(_stream(0, 2))
    assert [lr for *_, lr in _lrs(_stream(0, 2), seed=SEED + 1)] != [lr for *_, lr in _lrs(_stream(0, 2))]


def test_a_resumed_run_continues_the_same_sequence() -> None:
    whole = _lrs(_stream(0, 3))
    resumed = _lrs(_stream(1, 2))  # the checkpoint held epoch 1: the resumed stream restarts it
    assert resumed == [draw for draw in whole if draw[0] >= 1]


def test_threaded_draws_equal_one_thread_and_the_batch_is_channels_first() -> None:
    batch = {"hr": _hr(4, 64), "sample_id": np.array([f"s{i}" for i in range(4)])}
    with ThreadPoolExecutor(2) as pool:
        threaded = draw_lr_batch(batch, 5, DegradationConfig(), SEED, pool.map)
    single = draw_lr_batch(batch, 5, DegradationConfig(), SEED)
    assert threaded["lr"].shape == (4, 3, 16, 16) and threaded["lr"].dtype == np.uint8
    np.testing.assert_array_equal(threaded["lr"], single["lr"])
    assert threaded["lr_epoch"].tolist() == [5] * 4
    assert threaded["hr"] is batch["hr"]


def test_an_hr_not_divisible_by_the_scale_fails_loudly() -> None:
    with pytest.raises(ValueError, match="multiples of scale"):
        draw_lr(_hr(1, 30)[0], "row-a", 0, DegradationConfig(), SEED)
