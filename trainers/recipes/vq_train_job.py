"""``mmsr train-vq``: fit the VQ modality tokenizer on a snapshot's maps with Ray Train, tracked in MLflow.

Wiring only: maps are decoded and rendered by ``trainers.data.modality_map_batches`` inside Ray Data,
the per-worker loop is ``trainers.recipes.vq_train_loop``, the metrics are ``trainers.recipes.vq_reconstruction``.
Only the map columns (and ``split``) of the snapshot are read. The fitted tokenizer is
``save_pretrained`` to ``vq_train.output_dir``, loadable by the preprocessing job
(``preprocess.tokenizer.vq_model: <output_dir>``, ``vq_subfolder: null``).
"""

from __future__ import annotations

import dataclasses
import functools
import os
from dataclasses import dataclass
from pathlib import Path

import ray.data
from diffusers import VQModel
from ray.train import DataConfig, Result
from ray.train.torch import TorchTrainer

from featurestore.config import FeatureStoreConfig
from featurestore.mlflow_dataset import snapshot_dataset
from featurestore.modality import Modality
from featurestore.readers import ray_dataset, resolve_snapshot
from trainers.data.modality_map_batches import render_map_batch
from trainers.harness.torch_trainer import build_torch_trainer, fit_tracked
from trainers.recipes.vq_train_config import VqTrainConfig
from trainers.recipes.vq_train_loop import VQ_DIR, VqLoopSpec, vq_train_loop_per_worker
from trainers.tracking.mlflow_runs import create_run, experiment_id, flat_params, log_dataset_input, tracking_client
from trainers.tracking.tracking_config import TrackingConfig


@dataclass(frozen=True)
class VqTrainResult:
    mlflow_run_id: str
    snapshot_id: int
    final_step: int
    metrics: dict[str, float]
    """The last step's reported metrics, including ``eval/<modality>/<metric>``."""
    checkpoint_dir: str
    """Ray Train's last checkpoint (``vq/`` safetensors + ``vq_train_state/``)."""
    output_dir: str
    """The fitted tokenizer (``VQModel.save_pretrained`` layout, safetensors)."""


def modality_map_dataset(
    store: FeatureStoreConfig, snapshot_id: int, split: str, modalities: tuple[Modality, ...], max_rows: int | None = None
) -> ray.data.Dataset:
    """One split's present maps rendered for the tokenizer (``image``, ``modality``), streamed lazily.

    Reads only the ``<modality>_png`` columns and ``split``; ``max_rows`` caps the sample rows.
    """
    columns = [m.map_column for m in modalities]
    dataset = ray_dataset(store, snapshot_id, columns=columns, split=split)
    if max_rows is not None:
        dataset = dataset.limit(max_rows)
    render = functools.partial(render_map_batch, modalities=modalities)
    return dataset.map_batches(render, batch_format="numpy")


def _local_paths_resolved(config: VqTrainConfig) -> VqTrainConfig:
    """Ray workers run in their own working directory: make local paths absolute first."""
    init = config.init_model
    init_model = str(Path(init).resolve()) if init is not None and Path(init).exists() else init
    return dataclasses.replace(
        config, init_model=init_model, storage_path=config.absolute_storage_path(),
        output_dir=str(Path(config.output_dir).resolve()),
    )


def _trainer(config: VqTrainConfig, spec: VqLoopSpec, store: FeatureStoreConfig, snapshot_id: int, name: str) -> TorchTrainer:
    modalities = config.modality_list
    datasets = {
        "train": modality_map_dataset(store, snapshot_id, "train", modalities),
        "eval": modality_map_dataset(store, snapshot_id, "eval", modalities, config.eval_max_rows),
    }
    return build_torch_trainer(
        vq_train_loop_per_worker, spec, config, name, datasets, DataConfig(datasets_to_split=["train"])
    )


def run_vq_training(
    config: VqTrainConfig, store: FeatureStoreConfig, tracking: TrackingConfig, run_name: str | None = None
) -> VqTrainResult:
    """Fit the tokenizer to ``config.steps`` (resuming a run of the same name from its last
    checkpoint), then ``save_pretrained`` it to ``config.output_dir``.

    Each call is a new MLflow run (params, the snapshot as input dataset, per-step losses and
    per-modality eval errors); if training fails, that run is marked FAILED and the error propagates.
    """
    config = _local_paths_resolved(config)
    snapshot_id = resolve_snapshot(store, config.snapshot)
    client = tracking_client(tracking)
    params = flat_params("vq_train", config) | {"featurestore.snapshot_id": str(snapshot_id)}
    run_id = create_run(client, experiment_id(client, tracking), run_name, params)
    log_dataset_input(client, run_id, snapshot_dataset(store, snapshot_id), context="training")
    spec = VqLoopSpec(config=config, tracking_uri=client.tracking_uri, mlflow_run_id=run_id)
    trainer = _trainer(config, spec, store, snapshot_id, run_name or f"mmsr-vq-{run_id[:8]}")

    def save_tokenizer(result: Result) -> None:
        with result.checkpoint.as_directory() as directory:
            VQModel.from_pretrained(os.path.join(directory, VQ_DIR), use_safetensors=True).save_pretrained(
                config.output_dir, safe_serialization=True
            )
        client.set_tag(run_id, "mmsr.vq_tokenizer_dir", config.output_dir)

    result, metrics = fit_tracked(trainer, client, run_id, finish=save_tokenizer)
    return VqTrainResult(
        mlflow_run_id=run_id, snapshot_id=snapshot_id, final_step=int(metrics.get("step", 0)), metrics=metrics,
        checkpoint_dir=result.checkpoint.path, output_dir=config.output_dir,
    )
