"""Fixtures for training-job tests: a committed feature-store snapshot, a tiny base model, MLflow
tracking in a tmp dir, and one local Ray per test module."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import cv2
import numpy as np
import pytest
import ray

from featurestore.config import FeatureStoreConfig
from featurestore.modality import CAPTION_TOKENS, Modality
from featurestore.readers import current_snapshot_id
from orchestration.ray_runtime import quiet_data_progress
from tests.featurestore.conftest import commit_rows, sample_row
from tests.services.marker import starts_service
from trainers.models.sr_pipeline import build_tiny_pipeline
from trainers.recipes.train_config import TrainConfig
from trainers.tracking.tracking_config import TrackingConfig

TRAINING_ROWS = 32
"""Rows committed; 24 are in the train split (every 4th is eval), so 2 workers x batch 2 get
6 batches per epoch and the short test runs never pay for a second epoch."""


@dataclass(frozen=True)
class TrainingData:
    store: FeatureStoreConfig
    snapshot_id: int


def _png(rng: np.random.Generator, size: int) -> bytes:
    ok, encoded = cv2.imencode(".png", rng.integers(0, 256, size=(size, size, 3), dtype=np.uint8))
    assert ok
    return encoded.tobytes()


def training_row(index: int) -> dict[str, Any]:
    """A valid samples row with a 64x64 HR / 16x16 LR pair (the tiny UNet's smallest fit) and
    caption ids inside the tiny CLIP vocabulary."""
    row = sample_row(index)
    rng = np.random.default_rng(10_000 + index)
    row["hr_png"], row["lr_png"] = _png(rng, 64), _png(rng, 16)
    row[Modality.CAPTION.tokens_column] = rng.integers(0, 300, CAPTION_TOKENS).tolist()
    return row


@pytest.fixture(scope="session")
def training_data(tmp_path_factory: pytest.TempPathFactory) -> TrainingData:
    root = tmp_path_factory.mktemp("featurestore")
    store = commit_rows(root, "train-tests", [training_row(i) for i in range(TRAINING_ROWS)])
    snapshot_id = current_snapshot_id(store)
    assert snapshot_id is not None
    return TrainingData(store, snapshot_id)


@pytest.fixture(scope="session")
def base_model_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return build_tiny_pipeline(tmp_path_factory.mktemp("models") / "mmsr-base")


def make_tracking(root: Path) -> TrackingConfig:
    return TrackingConfig(tracking_uri=f"sqlite:///{root}/mlflow.db", artifact_location=str(root / "mlartifacts"))


def make_train_config(base_model: Path, storage: Path, **overrides: Any) -> TrainConfig:
    """Small CPU settings: 2 workers, batch 2, a checkpoint every 3 steps, 6 steps."""
    settings: dict[str, Any] = {
        "base_model": str(base_model), "steps": 6, "batch_size": 2, "num_workers": 2, "checkpoint_every": 3,
        "storage_path": str(storage),
    }
    return TrainConfig(**(settings | overrides))


RAY_TEST_ENV = {"RAY_TRAIN_HEALTH_CHECK_INTERVAL_S": "0.25"}
"""Ray Train's controller polls workers every 2 s by default and a worker can run at most one
report ahead of the controller, so short CPU steps would each take 2 s; poll faster in tests."""


@pytest.fixture(scope="module")
@starts_service
def local_ray() -> Iterator[None]:
    """One local Ray for the whole module (starting one costs ~5-10 s)."""
    ray.init(num_cpus=4, include_dashboard=False, configure_logging=False, runtime_env={"env_vars": RAY_TEST_ENV})
    quiet_data_progress()
    try:
        yield
    finally:
        ray.shutdown()
