"""The diffusion training task for the shared worker loop (``trainers.harness.worker_loop``): UNet + MMLC.

Thin on purpose: the loss is ``trainers.models.training_step.encoded_diffusion_loss`` (the
autoencoder's encodings through ``trainers.data.encoding_cache``); this file only does devices, DDP,
accumulation, mixed precision (``trainers.harness.mixed_precision``: autocast around the forward pass and
loss, fp16 loss scaling; weights and EMA stay float32), EMA and what a checkpoint holds; resuming,
reporting and metric logging are the worker loop's.

Restarts: after a worker failure Ray Train restarts the worker group, which resumes from the last
checkpoint and re-runs the steps after it. Rank 0 logs each step's metrics to MLflow at most once
per MLflow run: on (re)start it reads the highest step already in the run's ``loss`` history and
logs only later steps, so re-run steps keep the points the failed attempt logged (MLflow cannot
delete single points) and the history never holds a step twice. Each resume is logged as a
``restored_step`` point (value and step = the checkpoint's step).
"""

from __future__ import annotations

import contextlib
import os
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import numpy as np
import ray
import ray.train
import ray.train.torch
import torch
from torch.optim.swa_utils import AveragedModel, get_ema_multi_avg_fn

from pipelines.degradation import DegradationConfig
from pipelines.pixel_range import to_model_range
from trainers.data.encoding_cache import EncodingCache
from trainers.data.lr_draws import fresh_lr_batches
from trainers.data.shard_batches import EpochBatch, epoch_batches
from trainers.harness.lr_schedule import learning_rate_at
from trainers.harness.mixed_precision import autocast_context, backward, make_grad_scaler, optimizer_step
from trainers.harness.prefetch import prefetched
from trainers.harness.train_state import PIPELINE_DIR, load_train_state, save_train_state
from trainers.harness.worker_loop import LoopSchedule, run_worker_loop
from trainers.models.conditioning import tokens_from_feature_batch
from trainers.models.sampling_options import SamplingOptions
from trainers.models.sr_pipeline import MMSRPipeline
from trainers.models.training_step import (
    DiffusionParts,
    EncodedPair,
    encode_hr,
    encode_lr,
    encode_pair,
    encoded_diffusion_loss,
    freeze_conditioning_models,
)
from trainers.recipes.sr_grid import sr_grid, to_uint8_images
from trainers.recipes.train_config import TrainConfig


LR_PREFETCH_BATCHES = 2
"""Batches of on-the-fly LRs drawn ahead of the step."""


@dataclass(frozen=True)
class FaultInjection:
    """Test seam, once per run: right after reporting step ``after_step`` the worker of rank ``rank``
    creates the file ``marker`` and then, by ``mode``, dies (``exit``: ``os._exit(1)``) or writes its
    Ray node id into ``marker`` and waits up to ``wait_s`` for the test to kill that node
    (``await_node_kill``). Nothing happens while ``marker`` exists."""

    after_step: int
    marker: str
    rank: int = 1
    mode: Literal["exit", "await_node_kill"] = "exit"
    wait_s: float = 300.0

    def __call__(self, rank: int, step: int) -> None:
        marker = Path(self.marker)
        if rank != self.rank or step != self.after_step or marker.exists():
            return
        if self.mode == "exit":
            marker.touch()
            os._exit(1)
        marker.write_text(ray.get_runtime_context().get_node_id())
        time.sleep(self.wait_s)


@dataclass(frozen=True)
class LoopSpec:
    """Everything a worker needs; pickled once by Ray to every worker."""

    config: TrainConfig
    tracking_uri: str
    mlflow_run_id: str
    fault: FaultInjection | None = None
    """A worker crash to inject (tests only; None in real runs)."""
    image_batch: dict[str, Any] | None = None
    """The fixed eval rows of the SR grid (``trainers.recipes.sr_grid.grid_rows_batch``); None = no grid."""
    lr_degradation: DegradationConfig | None = None
    """The preprocess job's degradation settings, for ``train.degradation: on_the_fly`` (else None)."""


class DiffusionTask:
    """UNet + MMLC of one worker: DDP-wrapped parts, the EMA, the optimizer and the batch stream."""

    def __init__(
        self, config: TrainConfig, image_batch: dict[str, Any] | None = None,
        lr_degradation: DegradationConfig | None = None,
    ) -> None:
        context = ray.train.get_context()
        self.config = config
        self.image_batch = image_batch
        self.rank = context.get_world_rank()
        self.device = ray.train.torch.get_device()
        self.pipeline = MMSRPipeline.from_pretrained(config.base_model, revision=config.base_revision, device=self.device)
        parameters = freeze_conditioning_models(self.pipeline)
        self.trainable = torch.nn.ModuleDict({"unet": self.pipeline.unet, "mmlc": self.pipeline.mmlc}).train()
        """The raw UNet and MMLC: what checkpoints and the EMA hold."""
        self.parts = DiffusionParts(
            unet=ray.train.torch.prepare_model(self.pipeline.unet, move_to_device=False),
            mmlc=ray.train.torch.prepare_model(self.pipeline.mmlc, move_to_device=False),
            vae=self.pipeline.vae,
            noise_scheduler=self.pipeline.scheduler,
            lr_conditioning=self.pipeline.config.lr_conditioning,
        )
        self.optimizer = torch.optim.AdamW(parameters, lr=config.learning_rate, weight_decay=config.weight_decay)
        self.ema = AveragedModel(self.trainable, multi_avg_fn=get_ema_multi_avg_fn(config.ema_decay), use_buffers=True)
        self.scaler = make_grad_scaler(self.device, config.mixed_precision)
        """fp16 loss scaler (None for "no" and "bf16"); its state is not checkpointed (a resume starts
        from the default scale, which GradScaler lowers within a few steps if needed)."""
        if config.degradation == "on_the_fly" and lr_degradation is None:
            raise ValueError("train.degradation: on_the_fly needs the preprocess degradation settings")
        self.lr_degradation = lr_degradation if config.degradation == "on_the_fly" else None
        self.epoch = 0
        """Epoch of the last batch consumed (checkpointed: a resume restarts it, drawing its LRs again)."""
        self.batches: Iterator[EpochBatch] = iter(())
        self.generator = torch.Generator(device="cpu")
        self.encodings = EncodingCache(config.encoding_cache_rows)
        self.next_step = 0
        """The 0-based index of the next optimizer step (its learning rate: ``train.lr_schedule``)."""

    def restore(self, directory: Path) -> int:
        state = load_train_state(directory, self.trainable, self.ema, self.optimizer)
        self.epoch = state.epoch
        return state.step

    def start(self, step: int) -> None:
        self.next_step = step
        self.generator.manual_seed(self.config.seed * 100_003 + self.rank * 7_919 + step)
        shard = ray.train.get_dataset_shard("train")  # here: the lookup needs the worker's own thread
        self.batches = epoch_batches(self.config.batch_size, "train.batch_size", first_epoch=self.epoch, shard=shard)
        if self.lr_degradation is not None:  # drawn on CPU threads, a few batches ahead of the step
            pool = ThreadPoolExecutor(max_workers=self.config.cpus_per_worker, thread_name_prefix="lr-draws")
            drawn = fresh_lr_batches(self.batches, self.lr_degradation, self.config.seed, pool.map)
            self.batches = prefetched(drawn, LR_PREFETCH_BATCHES)

    def step(self) -> dict[str, float]:
        """One optimizer step over ``gradient_accumulation`` micro-batches (mean loss)."""
        config = self.config
        self.optimizer.zero_grad(set_to_none=True)
        total = 0.0
        for micro in range(config.gradient_accumulation):
            item = next(self.batches)
            batch, self.epoch = item.batch, item.epoch
            tokens = tokens_from_feature_batch(batch, self.pipeline.vq, self.pipeline.text_encoder, config.modality_set)
            last = micro == config.gradient_accumulation - 1
            with contextlib.nullcontext() if last else _no_sync(self.parts):
                with autocast_context(self.device, config.mixed_precision):
                    encoded = self._encoded(batch)
                    loss = encoded_diffusion_loss(
                        self.parts, encoded, tokens, self.generator, dropout_p=config.modality_dropout
                    )
                backward(loss / config.gradient_accumulation, self.scaler)
            total += float(loss.detach())
        rate = learning_rate_at(self.next_step, config.steps, config.learning_rate, config.lr_schedule, config.lr_warmup_steps)
        for group in self.optimizer.param_groups:
            group["lr"] = rate
        self.next_step += 1
        parameters = [p for group in self.optimizer.param_groups for p in group["params"]]
        optimizer_step(self.optimizer, self.scaler, parameters, config.max_grad_norm)
        self.ema.update_parameters(self.trainable)
        metrics = {"loss": total / config.gradient_accumulation, "learning_rate": self.optimizer.param_groups[0]["lr"]}
        if self.encodings.capacity:
            metrics["encoding_cache_hit_rate"] = self.encodings.hit_rate
        if self.lr_degradation is not None:
            metrics["epoch"] = float(self.epoch)  # with the row id and train.seed, redraws each LR (trainers.data.lr_draws)
        return metrics

    def _encoded(self, batch: dict[str, Any]) -> EncodedPair:
        """The batch's autoencoder encodings, through the encoding cache (keyed by sample id); with
        on-the-fly LRs the cache holds the HR encodings only and each LR is encoded as drawn."""

        def pixels(name: str, index: np.ndarray | slice) -> torch.Tensor:
            return to_model_range(torch.from_numpy(batch[name][index]).to(self.device))

        def encode_rows(rows: torch.Tensor) -> EncodedPair:
            index = rows.numpy()
            if self.lr_degradation is not None:
                return encode_hr(self.parts, pixels("hr", index))
            return encode_pair(self.parts, pixels("hr", index), pixels("lr", index))

        encoded = self.encodings.encode(batch["sample_id"].tolist(), encode_rows)
        if self.lr_degradation is None:
            return encoded
        latent_hw = (int(encoded.latent_mean.shape[-2]), int(encoded.latent_mean.shape[-1]))
        return encoded.with_condition(encode_lr(self.parts, pixels("lr", slice(None)), latent_hw))

    def evaluate(self) -> dict[str, float]:
        return {}

    @torch.no_grad()
    def images(self, step: int) -> dict[str, np.ndarray]:
        """The SR grid of the fixed eval rows, sampled with the EMA weights (``train.image_sample_steps``
        DDIM steps, seeded by ``train.seed``); the trained weights are put back afterwards."""
        batch, config = self.image_batch, self.config
        if batch is None:
            return {}
        trained = {name: value.detach().clone() for name, value in self.trainable.state_dict().items()}
        self.trainable.load_state_dict(self.ema.module.state_dict())
        self.trainable.eval()
        try:
            tokens = tokens_from_feature_batch(batch, self.pipeline.vq, self.pipeline.text_encoder, config.modality_set)
            lr = to_model_range(torch.from_numpy(batch["lr"]).to(self.device))
            generator = torch.Generator(device="cpu").manual_seed(config.seed)  # any int seed, negative too
            sr = self.pipeline(lr, tokens, SamplingOptions(steps=config.image_sample_steps), generator=generator)
        finally:
            self.trainable.load_state_dict(trained)
            self.trainable.train()
        labels = [f"{sample_id}  step {step}" for sample_id in batch["sample_id"]]
        grid = sr_grid(batch["lr"].transpose(0, 2, 3, 1), to_uint8_images(sr), batch["hr"].transpose(0, 2, 3, 1), labels)
        return {f"sr_grid/step_{step:06d}.png": grid}

    def save(self, directory: Path, step: int, final: bool) -> None:
        save_train_state(directory, step, self.trainable, self.ema, self.optimizer, epoch=self.epoch)
        if final:
            self.trainable.load_state_dict(self.ema.module.state_dict())
            self.pipeline.save_pretrained(directory / PIPELINE_DIR)


def _no_sync(parts: DiffusionParts) -> contextlib.ExitStack:
    """Skip DDP's gradient all-reduce (for all but the last accumulation micro-batch)."""
    stack = contextlib.ExitStack()
    for module in (parts.unet, parts.mmlc):
        if hasattr(module, "no_sync"):
            stack.enter_context(module.no_sync())
    return stack


def train_loop_per_worker(loop_config: dict[str, Any]) -> None:
    spec: LoopSpec = loop_config["spec"]
    config = spec.config
    task = DiffusionTask(config, spec.image_batch, spec.lr_degradation)
    world = ray.train.get_context().get_world_size()
    schedule = LoopSchedule(
        steps=config.steps, checkpoint_every=config.checkpoint_every, log_every=config.log_every,
        items_per_step=config.batch_size * config.gradient_accumulation * world,
        image_every=config.image_every if spec.image_batch is not None else None,
    )
    run_worker_loop(task, schedule, spec.tracking_uri, spec.mlflow_run_id, after_step=spec.fault)
