"""The diffusion task's step in-process: Ray Train's worker context is stubbed (rank 0 on the CPU,
no DDP), so what a training step does with its config is checked without starting Ray."""

from __future__ import annotations

from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest
import ray.train
import ray.train.torch
import torch

from tests.trainers.conftest import make_train_config, training_row
from trainers.data.feature_batches import decode_feature_batch
from trainers.data.shard_batches import EpochBatch
from trainers.models.mmlc import ModalitySequence
from trainers.recipes.train_loop import DiffusionTask

ROWS = 8


@pytest.fixture
def no_ray_worker(monkeypatch: pytest.MonkeyPatch) -> None:
    """What ``DiffusionTask`` asks Ray Train for, answered as a single CPU worker would be."""
    monkeypatch.setattr(ray.train, "get_context", lambda: SimpleNamespace(get_world_rank=lambda: 0))
    monkeypatch.setattr(ray.train.torch, "get_device", lambda: torch.device("cpu"))
    monkeypatch.setattr(ray.train.torch, "prepare_model", lambda model, **_: model)


def _feature_batch() -> dict[str, np.ndarray]:
    """ROWS training rows (64 px HR, every modality present) as the decoded numpy batch a step reads."""
    rows = [training_row(i) for i in range(ROWS)]
    columns = {name: np.empty(ROWS, dtype=object) for name in rows[0]}
    for index, row in enumerate(rows):
        for name, value in row.items():
            columns[name][index] = value  # one object per cell, as Ray Data hands list and bytes columns
    return decode_feature_batch(columns)


def _presence_seen_by_the_mmlc(base_model_dir: Path, tmp_path: Path, modality_dropout: float) -> torch.Tensor:
    """(ROWS, 4) bool: the rows' modalities the MMLC kept in one training step with ``train.modality_dropout``."""
    config = make_train_config(base_model_dir, tmp_path, num_workers=1, batch_size=ROWS, modality_dropout=modality_dropout)
    task = DiffusionTask(config)
    task.generator.manual_seed(0)
    task.batches = iter([EpochBatch(0, _feature_batch())])
    mmlc, seen = task.pipeline.mmlc, []
    real = mmlc.modality_sequence

    def spy(*args: object, **kwargs: object) -> ModalitySequence:
        sequence = real(*args, **kwargs)
        seen.append(sequence.present)
        return sequence

    mmlc.modality_sequence = spy  # type: ignore[method-assign]
    metrics = task.step()
    assert np.isfinite(metrics["loss"]) and len(seen) == 1
    return seen[0]


@pytest.mark.integration  # builds the diffusion task twice and runs a training step with each
def test_train_modality_dropout_reaches_the_mmlc_in_a_training_step(
    no_ray_worker: None, base_model_dir: Path, tmp_path: Path
) -> None:
    # Every row carries every modality, so all that the MMLC drops is the configured dropout's doing
    # (the tiny MMLC's own default rate, 0.1, must not be what applies).
    kept = _presence_seen_by_the_mmlc(base_model_dir, tmp_path / "none", 0.0)
    assert kept.shape == (ROWS, 4)
    assert bool(kept.all()), f"train.modality_dropout=0.0 dropped {int((~kept).sum())} of {kept.numel()}"
    kept = _presence_seen_by_the_mmlc(base_model_dir, tmp_path / "most", 0.9)
    assert (~kept).float().mean() > 0.7, f"train.modality_dropout=0.9 dropped only {(~kept).float().mean():.0%}"
