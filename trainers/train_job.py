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
from ray.train import CheckpointConfig, FailureConfig, RunConfig, ScalingConfig
from ray.train.torch import TorchTrainer

from featurestore.config import FeatureStoreConfig
from featurestore.mlflow_dataset import snapshot_dataset
from featurestore.readers import ray_dataset, resolve_snapshot
from trainers.feature_batches import TRAINING_COLUMNS, decode_feature_batch
from trainers.mlflow_runs import create_run, experiment_id, log_dataset_input, tracking_client
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


def _flat_params(config: TrainConfig) -> dict[str, str]:
    return {f"train.{k}": str(v) for k, v in dataclasses.asdict(config).items()}


def _local_paths_resolved(config: TrainConfig) -> TrainConfig:
    """Ray workers run in their own working directory: make local paths absolute first."""
    base = Path(config.base_model)
    storage = config.storage_path if "://" in config.storage_path else str(Path(config.storage_path).resolve())
    base_model = str(base.resolve()) if base.exists() else config.base_model
    return dataclasses.replace(config, base_model=base_model, storage_path=storage)


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
    params = _flat_params(config) | {"featurestore.snapshot_id": str(snapshot_id)}
    run_id = create_run(client, experiment_id(client, tracking), run_name, params)
    log_dataset_input(client, run_id, snapshot_dataset(store, snapshot_id), context="training")
    spec = LoopSpec(config=config, tracking_uri=client.tracking_uri, mlflow_run_id=run_id, fault=fault)
    trainer = TorchTrainer(
        train_loop_per_worker,
        train_loop_config={"spec": spec},
        scaling_config=ScalingConfig(
            num_workers=config.num_workers, use_gpu=config.use_gpu,
            resources_per_worker={"CPU": config.cpus_per_worker},
        ),
        run_config=RunConfig(
            name=run_name or f"mmsr-{run_id[:8]}",
            storage_path=config.storage_path,
            failure_config=FailureConfig(max_failures=config.max_failures),
            checkpoint_config=CheckpointConfig(num_to_keep=2),
        ),
        datasets={"train": training_dataset(store, snapshot_id)},
    )
    try:
        result = trainer.fit()
        if result.checkpoint is None:
            raise RuntimeError("training finished without a checkpoint")
    except Exception:
        client.set_terminated(run_id, "FAILED")
        raise
    metrics = {k: float(v) for k, v in (result.metrics or {}).items() if isinstance(v, (int, float))}
    client.set_terminated(run_id, "FINISHED")
    return TrainResult(
        mlflow_run_id=run_id, snapshot_id=snapshot_id, final_step=int(metrics.get("step", 0)),
        metrics=metrics, model_dir=os.path.join(result.checkpoint.path, "pipeline"),
    )
