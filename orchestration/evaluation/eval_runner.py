"""Run an evaluation's batches: in this process (one worker) or as a Ray Data job (several).

The batches are planned once on the driver (``orchestration.evaluation.eval_batch``) and each is
scored by :func:`~orchestration.evaluation.eval_batch.score_batch` wherever it runs, so the number
of workers changes how long an evaluation takes, never its scores.

- ``num_workers`` = 1: the driver loads the model it fetched and scores the batches in order (no
  Ray start, which costs seconds on a tiny set), with the threads a CPU worker gets.
- ``num_workers`` > 1: one Ray Data dataset row per batch, mapped by an actor pool of
  ``num_workers`` actors, each holding one replica of the model (loaded from the copy the driver
  fetched and checked when the actor's node sees it, as on a local Ray; else fetched and checked
  by the actor) and ``gpus_per_worker`` GPUs; CPU workers split
  the machine's cores between them (``model_config["threads"]``). Ray is started for the job when
  none runs (``orchestration.ray_runtime.local_ray``).
"""

from __future__ import annotations

import contextlib
import json
import os
import tempfile
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import mlflow.pyfunc

from orchestration.config_loading import ConfigError
from orchestration.evaluation.eval_batch import EvalItem, ScoredImage, plan_batches, score_batch
from orchestration.evaluation.quality_metrics import MetricSet, load_metrics
from orchestration.evaluation.quality_metrics_config import QualityMetricsConfig
from orchestration.serving.checked_model import fetch_checked_model, load_checked_model
from trainers.models.sampling_options import SamplingOptions
from trainers.tracking.tracking_config import TrackingConfig


@dataclass(frozen=True)
class EvalJob:
    """What every worker needs besides its batches."""

    model_uri: str
    tracking: TrackingConfig
    model_config: dict[str, Any]
    """``model_config`` overrides for loading the model (device, precision)."""
    quality: QualityMetricsConfig
    sampling: SamplingOptions
    batch_size: int
    """Rows per predict call (already bounded by the model's ``max_rows``)."""


def run_batches(
    job: EvalJob, items: Sequence[EvalItem], local_model: Path | None = None, metric_set: MetricSet | None = None
) -> list[ScoredImage]:
    """Every item scored, in the order of ``items``. ``local_model``: the checked model folder the
    driver fetched (fetched here, once, when None); ``metric_set``: the metrics the driver loaded
    for the in-process path (loaded here when None; Ray workers load their own)."""
    if local_model is None:
        with tempfile.TemporaryDirectory(prefix="mmsr-model-") as workdir:
            return run_batches(job, items, fetch_checked_model(job.model_uri, job.tracking, workdir), metric_set)
    batches = plan_batches(items, job.batch_size)
    if job.quality.num_workers == 1:
        scored = _run_in_process(job, items, batches, local_model, metric_set or load_metrics(job.quality))
    else:
        scored = _run_on_ray(job, items, batches, local_model)
    ordered: list[ScoredImage | None] = [None] * len(items)
    for index, result in zip((i for batch in batches for i in batch), scored):
        ordered[index] = result
    return ordered  # type: ignore[return-value]


@contextlib.contextmanager
def _model(job: EvalJob, local_model: Path) -> Iterator[mlflow.pyfunc.PyFuncModel]:
    """The driver's checked copy when this node sees it (local Ray), else a checked copy of its own."""
    if local_model.is_dir():
        yield mlflow.pyfunc.load_model(str(local_model), model_config=job.model_config)
        return
    with load_checked_model(job.model_uri, job.tracking, job.model_config) as model:
        yield model


def _run_in_process(
    job: EvalJob, items: Sequence[EvalItem], batches: list[list[int]], local_model: Path, metric_set: MetricSet
) -> list[ScoredImage]:
    scored: list[ScoredImage] = []
    job = replace(job, model_config=_worker_config(job)[0])
    with _model(job, local_model) as model:
        for batch in batches:
            scored += score_batch(model, metric_set, [items[i] for i in batch], job.sampling, job.quality.convention)
    return scored


class _EvalActor:
    """One model replica (and one set of metrics) scoring one batch per dataset row."""

    def __init__(self, job: EvalJob, local_model: str) -> None:
        self._job = job
        self._stack = contextlib.ExitStack()
        self._model = self._stack.enter_context(_model(job, Path(local_model)))
        self._metrics = load_metrics(job.quality)

    def __call__(self, row: dict[str, Any]) -> dict[str, Any]:
        items = [EvalItem(*fields) for fields in zip(row["name"], row["lr"], row["hr"], row["caption"])]
        scored = score_batch(self._model, self._metrics, items, self._job.sampling, self._job.quality.convention)
        record = [{"name": s.name, "scores": s.scores, "seconds": s.seconds, "caption": s.caption} for s in scored]
        return {"batch": row["batch"], "scored": json.dumps(record), "sr": [s.sr_png for s in scored]}


def worker_threads(quality: QualityMetricsConfig, cpu_count: int) -> int:
    """Torch threads of each CPU worker: ``threads_per_worker``, else the cores divided among them."""
    return quality.threads_per_worker or max(1, cpu_count // quality.num_workers)


def _worker_config(job: EvalJob) -> tuple[dict[str, Any], float]:
    """A worker's ``model_config`` and Ray CPUs: a GPU worker takes one CPU; a CPU worker its threads."""
    if job.quality.gpus_per_worker > 0:
        return job.model_config, 1.0
    threads = worker_threads(job.quality, os.cpu_count() or 1)
    return {**job.model_config, "threads": threads}, float(threads)


def _run_on_ray(
    job: EvalJob, items: Sequence[EvalItem], batches: list[list[int]], local_model: Path
) -> list[ScoredImage]:
    import ray.data

    from orchestration.ray_runtime import local_ray

    model_config, cpus = _worker_config(job)
    worker_job = replace(job, model_config=model_config)
    rows = [
        {"batch": number, "name": [items[i].name for i in batch], "lr": [items[i].lr_png for i in batch],
         "hr": [items[i].hr_png for i in batch], "caption": [items[i].caption for i in batch]}
        for number, batch in enumerate(batches)
    ]
    workers = job.quality.num_workers
    with local_ray(max(0, int(cpus) * workers - (os.cpu_count() or 1))):  # a local Ray fits the pool
        _check_resources(ray.cluster_resources(), cpus * workers, job.quality.gpus_per_worker * workers)
        dataset = ray.data.from_items(rows, override_num_blocks=len(rows)).map(
            _EvalActor, fn_constructor_args=(worker_job, str(local_model)), concurrency=workers,
            num_cpus=cpus, num_gpus=job.quality.gpus_per_worker,
        )
        results = sorted(dataset.take_all(), key=lambda result: result["batch"])
    scored = []
    for result in results:
        for record, sr_png in zip(json.loads(result["scored"]), result["sr"]):
            scored.append(ScoredImage(record["name"], bytes(sr_png), record["scores"], record["seconds"], record["caption"]))
    return scored


def _check_resources(available: dict[str, float], cpus: float, gpus: float) -> None:
    """ConfigError (one line) when the Ray cluster cannot hold the actor pool (it would wait forever)."""
    short = [
        f"{need:g} {name}s (the cluster has {available.get(name, 0.0):g})"
        for name, need in (("CPU", cpus), ("GPU", gpus)) if need > available.get(name, 0.0)
    ]
    if short:
        raise ConfigError(f"evaluate.num_workers' actors need {' and '.join(short)}: lower num_workers or the per-worker share")
