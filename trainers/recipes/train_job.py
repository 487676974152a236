"""``mmsr train``: stream a feature-store snapshot into a Ray Train TorchTrainer, tracked in MLflow.

Wiring only: the per-worker loop is ``trainers.recipes.train_loop``, the math is in ``trainers.models``.
The MLflow run is created here (params, the snapshot as input dataset); rank 0 logs metrics.
"""

from __future__ import annotations

import dataclasses
import json
import os
from dataclasses import dataclass
from pathlib import Path

import ray.data

from featurestore.config import FeatureStoreConfig
from featurestore.mlflow_dataset import snapshot_dataset
from featurestore.readers import ray_dataset, resolve_snapshot
from pipelines.degradation import DegradationConfig
from trainers.data.feature_batches import HR_ONLY_COLUMNS, TRAINING_COLUMNS, decode_feature_batch
from trainers.data.lr_draws import LR_DRAW_DERIVATION
from trainers.harness.torch_trainer import build_torch_trainer, fit_tracked
from trainers.recipes.sr_grid import grid_rows_batch
from trainers.recipes.train_config import TrainConfig
from trainers.recipes.train_loop import FaultInjection, LoopSpec, train_loop_per_worker
from trainers.tracking.mlflow_runs import create_run, experiment_id, flat_params, log_dataset_input, tracking_client
from trainers.tracking.tracking_config import TrackingConfig


@dataclass(frozen=True)
class TrainResult:
    mlflow_run_id: str
    snapshot_id: int
    final_step: int
    metrics: dict[str, float]
    model_dir: str
    """Directory of the trained MMSRPipeline (save_pretrained layout, safetensors)."""


def training_dataset(store: FeatureStoreConfig, snapshot_id: int, with_stored_lr: bool = True) -> ray.data.Dataset:
    """The snapshot's train split, decoded lazily into arrays (streamed, never materialised);
    without the stored LRs when training draws its own (``train.degradation: on_the_fly``)."""
    columns = TRAINING_COLUMNS if with_stored_lr else HR_ONLY_COLUMNS
    dataset = ray_dataset(store, snapshot_id, columns=list(columns), split="train")
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
    lr_degradation: DegradationConfig | None = None,
) -> TrainResult:
    """Train to ``config.steps`` (resuming a run of the same name from its last checkpoint).

    Each call is a new MLflow run; if training fails, that run is marked FAILED and the error
    propagates. ``fault`` injects a worker crash (tests only). ``lr_degradation``: the preprocess
    job's degradation settings (``preprocess.degradation``), required by ``train.degradation:
    on_the_fly`` and logged with the run's params next to how each draw is seeded.
    """
    on_the_fly = config.degradation == "on_the_fly"
    if on_the_fly and lr_degradation is None:
        raise ValueError("train.degradation: on_the_fly needs the preprocess degradation settings (lr_degradation)")
    config = _local_paths_resolved(config)
    snapshot_id = resolve_snapshot(store, config.snapshot)
    client = tracking_client(tracking)
    params = flat_params("train", config) | {"featurestore.snapshot_id": str(snapshot_id)}
    if on_the_fly:
        params |= {"train.lr_draw": LR_DRAW_DERIVATION, "train.lr_degradation": _settings_json(lr_degradation)}
    run_id = create_run(client, experiment_id(client, tracking), run_name, params)
    log_dataset_input(client, run_id, snapshot_dataset(store, snapshot_id), context="training")
    image_batch = None if config.image_every is None else grid_rows_batch(store, snapshot_id, config.image_rows)
    spec = LoopSpec(
        config=config, tracking_uri=client.tracking_uri, mlflow_run_id=run_id, fault=fault, image_batch=image_batch,
        lr_degradation=lr_degradation if on_the_fly else None,
    )
    datasets = {"train": training_dataset(store, snapshot_id, with_stored_lr=not on_the_fly)}
    trainer = build_torch_trainer(train_loop_per_worker, spec, config, run_name or f"mmsr-{run_id[:8]}", datasets)
    result, metrics = fit_tracked(trainer, client, run_id)
    return TrainResult(
        mlflow_run_id=run_id, snapshot_id=snapshot_id, final_step=int(metrics.get("step", 0)),
        metrics=metrics, model_dir=os.path.join(result.checkpoint.path, "pipeline"),
    )


def _settings_json(settings: object) -> str:
    return json.dumps(dataclasses.asdict(settings), sort_keys=True, default=str)  # type: ignore[call-overload]
