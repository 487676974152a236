"""The Ray Train worker loop every training shares: resume, steps, metrics, evaluation, checkpoints.

A training supplies a :class:`TrainingTask` (its models, one optimizer step, how it saves and
restores a checkpoint directory, an optional evaluation); :func:`run_worker_loop` does the rest
the same way for all of them:

- resumes from the checkpoint Ray Train hands a (re)started worker group;
- reports (a collective call, one round trip to the controller) only on steps where something is
  logged, evaluated or checkpointed, decided from the step alone so every rank reports together;
- rank 0 logs metrics to the MLflow run (a resumed run does not log a step twice), evaluates,
  logs the task's images on image steps (a resumed run overwrites the same artifact) and writes
  checkpoints.
"""

from __future__ import annotations

import logging
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

import numpy as np
import ray.train

from trainers.tracking.metric_log import MetricLog

LOG = logging.getLogger(__name__)


class TrainingTask(Protocol):
    def restore(self, directory: Path) -> int:
        """Load a checkpoint directory written by ``save``; return the step it holds."""
        ...

    def start(self, step: int) -> None:
        """Called once before the first step, with the step the loop starts from (0 or resumed)."""
        ...

    def step(self) -> dict[str, float]:
        """One optimizer step; its metrics (``loss`` at least)."""
        ...

    def evaluate(self) -> dict[str, float]:
        """Rank 0 only, on evaluation steps: metrics to log with the step's."""
        ...

    def save(self, directory: Path, step: int, final: bool) -> None:
        """Rank 0 only: write the checkpoint of ``step`` into ``directory`` (the last one: ``final``)."""
        ...

    def images(self, step: int) -> dict[str, np.ndarray]:
        """Rank 0 only, on image steps: artifact path -> (H, W, 3) uint8 RGB image to log."""
        ...


@dataclass(frozen=True)
class LoopSchedule:
    steps: int
    checkpoint_every: int
    log_every: int
    items_per_step: int
    """Samples (or maps) one step consumes over all workers: gives ``<unit>_per_second``."""
    unit: str = "samples"
    eval_every: int | None = None
    """Steps between ``evaluate`` calls (the last step is always evaluated); None = never."""
    label: str = "step"
    """How log lines name a step ("step", "vq step")."""
    image_every: int | None = None
    """Steps between ``images`` calls (the last step too); None = never."""

    def checkpoints(self, step: int) -> bool:
        return step == self.steps or step % self.checkpoint_every == 0

    def evaluates(self, step: int) -> bool:
        return self.eval_every is not None and (step == self.steps or step % self.eval_every == 0)

    def logs_images(self, step: int) -> bool:
        return self.image_every is not None and (step == self.steps or step % self.image_every == 0)

    def reports(self, step: int) -> bool:
        return self.checkpoints(step) or self.evaluates(step) or step % self.log_every == 0


def resume_step(task: TrainingTask, rank: int) -> int:
    """Restore the checkpoint Ray Train hands this worker, if any; the step to continue from."""
    restored = ray.train.get_checkpoint()
    if restored is None:
        return 0
    with restored.as_directory() as directory:
        step = task.restore(Path(directory))
    if rank == 0:
        LOG.info("resumed from the checkpoint of step %d", step)
    return step


def run_worker_loop(
    task: TrainingTask,
    schedule: LoopSchedule,
    tracking_uri: str,
    mlflow_run_id: str,
    after_step: Callable[[int, int], None] | None = None,
) -> None:
    """Train ``task`` to ``schedule.steps`` on this worker. ``after_step(rank, step)`` runs after every
    step (a test seam for injected crashes)."""
    rank = ray.train.get_context().get_world_rank()
    step = resume_step(task, rank)
    task.start(step)
    metric_log = MetricLog.open(tracking_uri, mlflow_run_id, step) if rank == 0 else None
    while step < schedule.steps:
        started = time.perf_counter()
        metrics = task.step()
        step += 1
        metrics[f"{schedule.unit}_per_second"] = schedule.items_per_step / (time.perf_counter() - started)
        if metric_log is not None and schedule.logs_images(step):
            for artifact_file, image in task.images(step).items():  # rank 0 alone: no collective call
                metric_log.client.log_image(metric_log.run_id, image, artifact_file=artifact_file)
        if schedule.reports(step):
            _report(task, schedule, step, metrics, rank, metric_log)
        if after_step is not None:
            after_step(rank, step)


def _report(
    task: TrainingTask, schedule: LoopSchedule, step: int, metrics: dict[str, float], rank: int,
    metric_log: MetricLog | None,
) -> None:
    if rank == 0 and schedule.evaluates(step):
        metrics |= task.evaluate()
    if rank == 0:
        LOG.info("%s %d/%d loss %.4f", schedule.label, step, schedule.steps, metrics["loss"])
    if metric_log is not None:
        metric_log.log(step, metrics)
    with tempfile.TemporaryDirectory() as directory:
        checkpoint = None
        if rank == 0 and schedule.checkpoints(step):
            task.save(Path(directory), step, final=step == schedule.steps)
            checkpoint = ray.train.Checkpoint.from_directory(directory)
        ray.train.report(metrics | {"step": step}, checkpoint=checkpoint)
