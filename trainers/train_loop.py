"""The per-worker Ray Train loop: stream batches, step UNet + MMLC, checkpoint, report.

Thin on purpose: the loss is ``trainers.models.training_step.diffusion_loss``; this file only
does devices, DDP, accumulation, mixed precision (``trainers.mixed_precision``: autocast around
the forward pass and loss, fp16 loss scaling; weights and EMA stay float32), EMA, checkpoints and
metrics.

Restarts: after a worker failure Ray Train restarts the worker group, which resumes from the last
checkpoint and re-runs the steps after it. Rank 0 logs each step's metrics to MLflow at most once
per MLflow run: on (re)start it reads the highest step already in the run's ``loss`` history and
logs only later steps, so re-run steps keep the points the failed attempt logged (MLflow cannot
delete single points) and the history never holds a step twice. Each resume is logged as a
``restored_step`` point (value and step = the checkpoint's step).
"""

from __future__ import annotations

import contextlib
import logging
import os
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import ray.train
import ray.train.torch
import torch
from torch.optim.swa_utils import AveragedModel, get_ema_multi_avg_fn

from pipelines.pixel_range import to_model_range
from trainers.metric_log import MetricLog
from trainers.mixed_precision import autocast_context, backward, make_grad_scaler, optimizer_step
from trainers.models.conditioning import tokens_from_feature_batch
from trainers.models.sr_pipeline import MMSRPipeline
from trainers.models.training_step import DiffusionParts, diffusion_loss, freeze_conditioning_models
from trainers.shard_batches import shard_batches
from trainers.train_config import TrainConfig
from trainers.train_state import PIPELINE_DIR, load_train_state, save_train_state

LOG = logging.getLogger(__name__)


@dataclass(frozen=True)
class FaultInjection:
    """Test seam: the worker of rank ``rank`` dies (``os._exit(1)``) right after reporting step
    ``after_step``, once: it creates the file ``marker`` first and never crashes while it exists."""

    after_step: int
    marker: str
    rank: int = 1


@dataclass(frozen=True)
class LoopSpec:
    """Everything a worker needs; pickled once by Ray to every worker."""

    config: TrainConfig
    tracking_uri: str
    mlflow_run_id: str
    fault: FaultInjection | None = None
    """A worker crash to inject (tests only; None in real runs)."""


@dataclass
class _Run:
    pipeline: MMSRPipeline
    parts: DiffusionParts
    """UNet and MMLC as trained (DDP-wrapped when there are several workers)."""
    trainable: torch.nn.ModuleDict
    """The raw UNet and MMLC: what checkpoints and the EMA hold."""
    ema: AveragedModel
    optimizer: torch.optim.Optimizer
    scaler: torch.amp.GradScaler | None
    """fp16 loss scaler (None for "no" and "bf16"); its state is not checkpointed (a resume starts
    from the default scale, which GradScaler lowers within a few steps if needed)."""
    device: torch.device
    rank: int
    world: int


def _setup(config: TrainConfig) -> _Run:
    context = ray.train.get_context()
    device = ray.train.torch.get_device()
    pipeline = MMSRPipeline.from_pretrained(config.base_model, revision=config.base_revision, device=device)
    parameters = freeze_conditioning_models(pipeline)
    trainable = torch.nn.ModuleDict({"unet": pipeline.unet, "mmlc": pipeline.mmlc}).train()
    parts = DiffusionParts(
        unet=ray.train.torch.prepare_model(pipeline.unet, move_to_device=False),
        mmlc=ray.train.torch.prepare_model(pipeline.mmlc, move_to_device=False),
        vae=pipeline.vae,
        noise_scheduler=pipeline.scheduler,
        lr_conditioning=pipeline.config.lr_conditioning,
    )
    optimizer = torch.optim.AdamW(parameters, lr=config.learning_rate, weight_decay=config.weight_decay)
    ema = AveragedModel(trainable, multi_avg_fn=get_ema_multi_avg_fn(config.ema_decay), use_buffers=True)
    scaler = make_grad_scaler(device, config.mixed_precision)
    return _Run(
        pipeline, parts, trainable, ema, optimizer, scaler, device, context.get_world_rank(), context.get_world_size()
    )


def _no_sync(parts: DiffusionParts) -> contextlib.ExitStack:
    """Skip DDP's gradient all-reduce (for all but the last accumulation micro-batch)."""
    stack = contextlib.ExitStack()
    for module in (parts.unet, parts.mmlc):
        if hasattr(module, "no_sync"):
            stack.enter_context(module.no_sync())
    return stack


def _step(run: _Run, config: TrainConfig, batches: Any, generator: torch.Generator) -> float:
    """One optimizer step over ``gradient_accumulation`` micro-batches; returns the mean loss."""
    run.optimizer.zero_grad(set_to_none=True)
    total = 0.0
    for micro in range(config.gradient_accumulation):
        batch = next(batches)
        tokens = tokens_from_feature_batch(batch, run.pipeline.vq, run.pipeline.text_encoder, config.modality_set)
        hr, lr = (to_model_range(torch.from_numpy(batch[name]).to(run.device)) for name in ("hr", "lr"))
        last = micro == config.gradient_accumulation - 1
        with contextlib.nullcontext() if last else _no_sync(run.parts):
            with autocast_context(run.device, config.mixed_precision):
                loss = diffusion_loss(run.parts, hr, lr, tokens, generator, dropout_p=config.modality_dropout)
            backward(loss / config.gradient_accumulation, run.scaler)
        total += float(loss.detach())
    parameters = [p for group in run.optimizer.param_groups for p in group["params"]]
    optimizer_step(run.optimizer, run.scaler, parameters, config.max_grad_norm)
    run.ema.update_parameters(run.trainable)
    return total / config.gradient_accumulation


def _checkpoint(run: _Run, step: int, final: bool, directory: Path) -> ray.train.Checkpoint:
    save_train_state(directory, step, run.trainable, run.ema, run.optimizer)
    if final:
        run.trainable.load_state_dict(run.ema.module.state_dict())
        run.pipeline.save_pretrained(directory / PIPELINE_DIR)
    return ray.train.Checkpoint.from_directory(str(directory))


def _restore(run: _Run) -> int:
    """Load the checkpoint Ray Train hands a (re)started worker group; the step it holds (0 if none)."""
    restored = ray.train.get_checkpoint()
    if restored is None:
        return 0
    with restored.as_directory() as directory:
        step = load_train_state(Path(directory), run.trainable, run.ema, run.optimizer).step
    if run.rank == 0:
        LOG.info("resumed from the checkpoint of step %d", step)
    return step


def _maybe_crash(fault: FaultInjection, rank: int, step: int) -> None:
    marker = Path(fault.marker)
    if rank == fault.rank and step == fault.after_step and not marker.exists():
        marker.touch()
        os._exit(1)


def train_loop_per_worker(loop_config: dict[str, Any]) -> None:
    spec: LoopSpec = loop_config["spec"]
    config = spec.config
    run = _setup(config)
    step = _restore(run)
    generator = torch.Generator(device="cpu").manual_seed(config.seed * 100_003 + run.rank * 7_919 + step)
    metric_log = MetricLog.open(spec.tracking_uri, spec.mlflow_run_id, step) if run.rank == 0 else None
    batches = shard_batches(config.batch_size, "train.batch_size")
    samples_per_step = config.batch_size * config.gradient_accumulation * run.world
    while step < config.steps:
        started = time.perf_counter()
        loss = _step(run, config, batches, generator)
        step += 1
        metrics = {
            "step": step, "loss": loss, "learning_rate": run.optimizer.param_groups[0]["lr"],
            "samples_per_second": samples_per_step / (time.perf_counter() - started),
        }
        final = step == config.steps
        checkpointing = final or step % config.checkpoint_every == 0
        # Reports are collective and cost a round trip to the controller: only every log_every steps.
        if checkpointing or step % config.log_every == 0:
            if run.rank == 0:
                LOG.info("step %d/%d loss %.4f (%.1f samples/s)", step, config.steps, loss, metrics["samples_per_second"])
            if metric_log is not None:
                metric_log.log(step, {k: v for k, v in metrics.items() if k != "step"})
            with tempfile.TemporaryDirectory() as directory:
                checkpoint = _checkpoint(run, step, final, Path(directory)) if run.rank == 0 and checkpointing else None
                ray.train.report(metrics, checkpoint=checkpoint)
        if spec.fault is not None:
            _maybe_crash(spec.fault, run.rank, step)
