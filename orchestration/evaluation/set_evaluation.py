"""``mmsr evaluate --pairs LR HR | --hr HR``: score a registered model on a benchmark set's whole images.

The set is read by ``orchestration.evaluation.benchmark_set`` with the model's scale (read from
the fetched, checked model), so a pair off the scale is refused before anything is predicted.
Each whole LR goes through the model's own predict path (it tiles what it must), batched and run
by ``orchestration.evaluation.eval_runner`` like a snapshot's eval rows, with no caption (the
model captions the LR, as for a user's request).

Logged to one MLflow run: every metric's mean (``eval_<metric>``, bicubic's too), the set as the
run's input dataset (name, digest = the set's content hash), params ``eval.set.*`` (name, kind,
content hash, sources, degradation seed, crop), the per-image table and an HR | bicubic | SR grid
of the centres of the first images. ``output_dir``: each SR as ``<stem>.png``, ``metrics.csv`` (one row per image:
name, every metric, bicubic's) and, for a synthetic set, the LRs it made as ``lr/<stem>.png``.
"""

from __future__ import annotations

import json
import logging
import tempfile
import warnings
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
from mlflow.data.dataset_source import DatasetSource
from mlflow.data.dataset_source_registry import resolve_dataset_source
from mlflow.data.meta_dataset import MetaDataset

from orchestration.evaluation.benchmark_set import BenchmarkSet, SetImage
from orchestration.evaluation.eval_batch import EvalItem, ScoredImage
from orchestration.evaluation.eval_runner import EvalJob, run_batches
from orchestration.evaluation.image_grid import GridRow, comparison_grid
from orchestration.evaluation.quality_metrics import MetricSet, load_metrics
from orchestration.evaluation.quality_metrics_config import QualityMetricsConfig
from orchestration.serving.checked_model import fetch_checked_model
from orchestration.serving.serve_config import ServeConfig
from pipelines.feature_rows import encode_png
from pipelines.image_decoding import decode_image
from trainers.models.sr_pipeline import PIPELINE_CONFIG_NAME
from trainers.tracking.mlflow_runs import create_run, experiment_id, log_dataset_input, tracking_client
from trainers.tracking.tracking_config import TrackingConfig

LOG = logging.getLogger(__name__)
METRICS_CSV = "metrics.csv"
TABLE_FILE = "per_image_scores.json"
GRID_FILE = "eval_grid.png"
GRID_ROWS = 4
GRID_SIDE = 256


@dataclass(frozen=True)
class SetEvaluation:
    mlflow_run_id: str
    set_name: str
    content_hash: str
    table: pd.DataFrame
    """One row per image: name, every metric, bicubic_psnr, bicubic_ssim, seconds, caption."""
    metrics: dict[str, float]
    """``eval_<column>`` means of the table's scores."""


def model_scale(local_model: Path) -> int:
    """The SR factor of a fetched registered model (its pipeline's ``mmsr_pipeline.json``)."""
    configs = sorted(local_model.rglob(PIPELINE_CONFIG_NAME))
    if not configs:
        raise ValueError(f"{local_model} holds no {PIPELINE_CONFIG_NAME}")
    return int(json.loads(configs[0].read_text())["scale"])


def set_items(benchmark: BenchmarkSet) -> list[EvalItem]:
    return [EvalItem(image.name, encode_png(image.lr), encode_png(image.hr)) for image in benchmark.images]


def score_table(scored: list[ScoredImage]) -> pd.DataFrame:
    return pd.DataFrame([{"name": s.name, **s.scores, "seconds": s.seconds, "caption": s.caption} for s in scored])


def write_outputs(output_dir: Path, benchmark: BenchmarkSet, scored: list[ScoredImage], table: pd.DataFrame) -> None:
    """Each SR as ``<stem>.png``, ``metrics.csv`` and, for a synthetic set, its LRs under ``lr/``."""
    output_dir.mkdir(parents=True, exist_ok=True)
    for image in scored:
        (output_dir / f"{image.name}.png").write_bytes(image.sr_png)
    table.drop(columns=["seconds", "caption"]).to_csv(output_dir / METRICS_CSV, index=False)
    if benchmark.kind == "synthetic":
        (output_dir / "lr").mkdir(exist_ok=True)
        for image in benchmark.images:
            (output_dir / "lr" / f"{image.name}.png").write_bytes(encode_png(image.lr))


def evaluate_set(
    model_uri: str, load_set: Callable[[int], BenchmarkSet], tracking: TrackingConfig, serve: ServeConfig,
    quality: QualityMetricsConfig, sources: dict[str, str], output_dir: Path | None = None,
) -> SetEvaluation:
    """Fetch ``model_uri``, read the set with ``load_set(scale)``, score every image, log one run.

    ``sources``: the run's ``eval.set.*`` params naming what was read (the CLI's flags)."""
    sampling = serve.sampling
    with tempfile.TemporaryDirectory(prefix="mmsr-model-") as workdir:
        local = fetch_checked_model(model_uri, tracking, workdir)
        benchmark = load_set(model_scale(local))
        job = EvalJob(model_uri, tracking, serve.placement(), quality, sampling, min(quality.batch_size, serve.max_rows))
        metric_set = load_metrics(quality)
        for line in metric_set.unavailable_lines():
            LOG.warning("%s", line)
        scored = run_batches(job, set_items(benchmark), local, metric_set)
    table = score_table(scored)
    metrics = {f"eval_{c}": float(table[c].mean()) for c in table.columns if c not in ("name", "caption")}
    if output_dir is not None:
        write_outputs(output_dir, benchmark, scored, table)
    run_id = _log_run(model_uri, tracking, serve, quality, benchmark, sources, table, metrics, scored, metric_set)
    return SetEvaluation(run_id, benchmark.name, benchmark.content_hash, table, metrics)


def _log_run(
    model_uri: str, tracking: TrackingConfig, serve: ServeConfig, quality: QualityMetricsConfig,
    benchmark: BenchmarkSet, sources: dict[str, str], table: pd.DataFrame, metrics: dict[str, float],
    scored: list[ScoredImage], metric_set: MetricSet,
) -> str:
    client = tracking_client(tracking)
    params = {
        "model_uri": model_uri, **{name: str(value) for name, value in serve.sampling.as_params().items()},
        "metrics": ",".join(metric.name for metric in metric_set.metrics),
        "evaluate.convention": quality.convention, "evaluate.caption_source": "lr",
        "evaluate.batch_size": str(quality.batch_size), "evaluate.num_workers": str(quality.num_workers),
        "eval.set.name": benchmark.name, "eval.set.kind": benchmark.kind, "eval.set.content_hash": benchmark.content_hash,
        "eval.set.images": str(len(benchmark.images)), "eval.set.seed": str(benchmark.seed),
        **{f"eval.set.{key}": value for key, value in sources.items()},
    }
    run_id = create_run(client, experiment_id(client, tracking), f"evaluate-{benchmark.name}", params)
    dataset = MetaDataset(source=_source(sources), name=benchmark.name, digest=benchmark.content_hash[:36])
    log_dataset_input(client, run_id, dataset, context="evaluation")
    for key, value in metrics.items():
        client.log_metric(run_id, key, value)
    client.set_tag(run_id, "eval.set.name", benchmark.name)
    client.set_tag(run_id, "eval.set.content_hash", benchmark.content_hash)
    client.set_tag(run_id, "eval.convention", quality.convention)
    for name, reason in metric_set.unavailable.items():
        client.set_tag(run_id, f"eval.unavailable.{name}", reason[:5000])
    client.log_table(run_id, table, TABLE_FILE)
    rows = [grid_row(image, decode_image(s.sr_png)) for image, s in zip(benchmark.images[:GRID_ROWS], scored)]
    client.log_image(run_id, comparison_grid(rows), artifact_file=GRID_FILE)
    client.set_terminated(run_id, "FINISHED")
    return run_id


def grid_row(image: SetImage, sr: np.ndarray, side: int = GRID_SIDE) -> GridRow:
    """The centred region of at most ``side`` x ``side`` HR px of one image (HR, its LR, the SR):
    a grid of whole benchmark images would be tens of megabytes."""
    scale = image.hr.shape[0] // image.lr.shape[0]
    lr_h, lr_w = (min(side // scale, extent) for extent in image.lr.shape[:2])
    top, left = (image.lr.shape[0] - lr_h) // 2, (image.lr.shape[1] - lr_w) // 2
    hr_rows, hr_cols = slice(top * scale, (top + lr_h) * scale), slice(left * scale, (left + lr_w) * scale)
    lr = image.lr[top:top + lr_h, left:left + lr_w]
    return GridRow(hr=image.hr[hr_rows, hr_cols], lr=np.ascontiguousarray(lr), sr=sr[hr_rows, hr_cols])


def _source(sources: dict[str, str]) -> DatasetSource:
    """MLflow's source for the HR spec (a local path, ``gs://``, ``s3://``, ...)."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return resolve_dataset_source(sources["hr"])
