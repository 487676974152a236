"""``mmsr train``: stream a feature-store snapshot into a Ray Train TorchTrainer, tracked in MLflow.

Wiring only: the per-worker loop is ``trainers.train_loop``, the math is in ``trainers.models``.
The MLflow run is created here (params, the snapshot as input dataset); rank 0 logs metrics.
"""

from __future__ import annotations

import dataclasses
import os
from dataclasses import dataclass
from pathlib import Path

import ray.data

from featurestore.config import FeatureStoreConfig
from featurestore.mlflow_dataset import snapshot_dataset
from featurestore.readers import ray_dataset, resolve_snapshot
from trainers.feature_batches import TRAINING_COLUMNS, decode_feature_batch
from trainers.mlflow_runs import create_run, experiment_id, flat_params, log_dataset_input, tracking_client
from trainers.sr_grid import grid_rows_batch
from trainers.torch_trainer import build_torch_trainer, fit_tracked
from trainers.tracking_config import TrackingConfig
from trainers.train_config import TrainConfig
from trainers.train_loop import FaultInjection, LoopSpec, train_loop_per_worker


@dataclass(frozen=True)
class TrainResult:
    mlflow_run_id: str
    snapshot_id: int
    final_step: int
    metrics: dict[str, float]
    model_dir: str
    """Directory of the trained MMSRPipeline (save_pretrained layout, safetensors)."""


def training_dataset(store: FeatureStoreConfig, snapshot_id: int) -> ray.data.Dataset:
    """The snapshot's train split, decoded lazily into arrays (streamed, never materialised)."""
    dataset = ray_dataset(store, snapshot_id, columns=list(TRAINING_COLUMNS), split="train")
    return dataset.map_batches(decode_feature_batch, batch_format="numpy")


def _local_paths_resolved(config: TrainConfig) -> TrainConfig:
    """Ray workers run in their own working directory: make local paths absolute first."""
    base = Path(config.base_model)
    base_model = str(base.resolve()) if base.exists() else config.base_model
    return dataclasses.replace(config, base_model=base_model, storage_path=config.absolute_storage_path())


def run_training(
    config: TrainConfig,
    store: FeatureStoreConfig,
    tracking: TrackingConfig,
    run_name: str | None = None,
    fault: FaultInjection | None = None,
) -> TrainResult:
    """Train to ``config.steps`` (resuming a run of the same name from its last checkpoint).

    Each call is a new MLflow run; if training fails, that run is marked FAILED and the error
    propagates. ``fault`` injects a worker crash (tests only).
    """
    config = _local_paths_resolved(config)
    snapshot_id = resolve_snapshot(store, config.snapshot)
    client = tracking_client(tracking)
    params = flat_params("train", config) | {"featurestore.snapshot_id": str(snapshot_id)}
    run_id = create_run(client, experiment_id(client, tracking), run_name, params)
    log_dataset_input(client, run_id, snapshot_dataset(store, snapshot_id), context="training")
    image_batch = None if config.image_every is None else grid_rows_batch(store, snapshot_id, config.image_rows)
    spec = LoopSpec(
        config=config, tracking_uri=client.tracking_uri, mlflow_run_id=run_id, fault=fault, image_batch=image_batch
    )
    datasets = {"train": training_dataset(store, snapshot_id)}
    trainer = build_torch_trainer(train_loop_per_worker, spec, config, run_name or f"mmsr-{run_id[:8]}", datasets)
    result, metrics = fit_tracked(trainer, client, run_id)
    return TrainResult(
        mlflow_run_id=run_id, snapshot_id=snapshot_id, final_step=int(metrics.get("step", 0)),
        metrics=metrics, model_dir=os.path.join(result.checkpoint.path, "pipeline"),
    )
