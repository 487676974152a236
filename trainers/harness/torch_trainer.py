"""The Ray Train ``TorchTrainer`` both trainings run (scaling, storage, fault tolerance from one config)
and its fit, tracked as one MLflow run."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import ray.data
from mlflow.tracking import MlflowClient
from ray.train import CheckpointConfig, DataConfig, FailureConfig, Result, RunConfig, ScalingConfig
from ray.train.torch import TorchTrainer

from trainers.harness.ray_run_config import RayRunConfig


def build_torch_trainer(
    loop: Callable[[dict[str, Any]], None],
    spec: object,
    config: RayRunConfig,
    name: str,
    datasets: dict[str, ray.data.Dataset],
    dataset_config: DataConfig | None = None,
) -> TorchTrainer:
    """``loop(spec)`` on ``config.num_workers`` workers; the last two checkpoints are kept under
    ``config.storage_path``/``name``, where a rerun of the same ``name`` resumes."""
    return TorchTrainer(
        loop,
        train_loop_config={"spec": spec},
        scaling_config=ScalingConfig(
            num_workers=config.num_workers, use_gpu=config.use_gpu,
            resources_per_worker={"CPU": config.cpus_per_worker},
        ),
        run_config=RunConfig(
            name=name,
            storage_path=config.storage_path,
            failure_config=FailureConfig(max_failures=config.max_failures),
            checkpoint_config=CheckpointConfig(num_to_keep=2),
        ),
        datasets=datasets,
        dataset_config=dataset_config,
    )


def fit_tracked(
    trainer: TorchTrainer, client: MlflowClient, run_id: str, finish: Callable[[Result], None] | None = None
) -> tuple[Result, dict[str, float]]:
    """``trainer.fit()``, then ``finish(result)``; the MLflow run is marked FINISHED, or FAILED (and
    the error propagates) when either fails or training ends without a checkpoint. Returns the
    result and its numeric metrics."""
    try:
        result = trainer.fit()
        if result.checkpoint is None:
            raise RuntimeError("training finished without a checkpoint")
        if finish is not None:
            finish(result)
    except Exception:
        client.set_terminated(run_id, "FAILED")
        raise
    client.set_terminated(run_id, "FINISHED")
    return result, {k: float(v) for k, v in (result.metrics or {}).items() if isinstance(v, (int, float))}
