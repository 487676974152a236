"""``mmsr evaluate``: score a registered model on a snapshot's eval split and log it to MLflow.

The model is given what serving is given: each eval row's LR, and by default no caption, so its
packaged captioner captions the LR (or it runs without a caption when none is packaged); depth,
segmentation and edges are extracted from the LR inside the model, as for every request.
``evaluate.caption_source: stored`` sends the row's stored caption instead (made from the HR: an
oracle). PSNR/SSIM follow ``evaluate.convention``; both settings are run params and tags.
Rows of one LR size are denoised ``evaluate.batch_size`` at a time, in this process or on
``evaluate.num_workers`` Ray Data actors (``orchestration.evaluation.eval_runner``): same scores.

Logged to one MLflow run: the mean of every metric (``eval_<metric>``, plus the bicubic
baseline's PSNR/SSIM), the snapshot as the run's input dataset, per-image scores and the caption
each image was conditioned on as a table (``per_image_scores.json``), an HR | bicubic LR | SR grid
(``eval_grid.png``), and one ``eval.unavailable.<metric>`` tag per requested metric that could not
be computed.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from featurestore.config import FeatureStoreConfig
from featurestore.mlflow_dataset import snapshot_dataset
from featurestore.readers import read_arrow, resolve_snapshot
from orchestration.evaluation.eval_batch import EvalItem, ScoredImage
from orchestration.evaluation.eval_runner import EvalJob, run_batches
from orchestration.evaluation.fidelity_convention import Convention, Fidelity, fidelity
from orchestration.evaluation.image_grid import GridRow, comparison_grid
from orchestration.evaluation.quality_metrics import MetricSet, QualityMetricsConfig, load_metrics
from orchestration.evaluation.quality_metrics_config import EvalCaptionSource
from orchestration.serving.serve_config import ServeConfig
from pipelines.image_decoding import decode_image
from trainers.models.sampling_options import SamplingOptions
from trainers.tracking.mlflow_runs import create_run, experiment_id, log_dataset_input, tracking_client
from trainers.tracking.tracking_config import TrackingConfig

LOG = logging.getLogger(__name__)
GRID_FILE = "eval_grid.png"
TABLE_FILE = "per_image_scores.json"
_NOT_SCORES = frozenset({"sample_id", "caption"})
"""Columns of the per-image table that are not averaged into ``eval_<metric>``."""


@dataclass(frozen=True)
class EvaluationResult:
    mlflow_run_id: str
    snapshot_id: int
    images: int
    metrics: dict[str, float]
    """``eval_<metric>`` means over the eval images (higher is better unless in ``lower_better``)."""
    unavailable: dict[str, str] = field(default_factory=dict)
    """Requested learned metric -> why it was not computed."""
    lower_better: tuple[str, ...] = ()
    """Keys of ``metrics`` where lower is better (LPIPS, DISTS, NIQE, seconds)."""
    convention: Convention = "basicsr-y"
    """How PSNR/SSIM were computed."""
    caption_source: EvalCaptionSource = "lr"
    """Where the captions the model got came from."""


@dataclass(frozen=True)
class EvalSample:
    sample_id: str
    lr: np.ndarray
    """(h, w, 3) uint8 RGB."""
    hr: np.ndarray
    """(H, W, 3) uint8 RGB."""
    sr: np.ndarray
    """(H, W, 3) uint8 RGB."""


def score_image(sr: np.ndarray, hr: np.ndarray, scale: int, convention: Convention = "basicsr-y") -> Fidelity:
    """PSNR (dB, capped at 100) and SSIM of (H, W, 3) uint8 RGB ``sr`` against ``hr`` of the same
    shape, ``scale`` x its LR, under ``convention``."""
    return fidelity(sr, hr, convention, scale)


def _eval_rows(store: FeatureStoreConfig, snapshot_id: int, limit: int | None) -> list[dict]:
    columns = ["sample_id", "split", "lr_png", "hr_png", "caption"]
    rows = [row for row in read_arrow(store, snapshot_id, columns=columns).to_pylist() if row["split"] == "eval"][:limit]
    if not rows:
        raise ValueError(f"snapshot {snapshot_id} has no eval rows (preprocess.eval_fraction is 0?)")
    return rows


def eval_item(row: dict, caption_source: EvalCaptionSource) -> EvalItem:
    """What the model gets for one eval row: its LR, and its stored caption only for ``stored``
    (for ``lr`` the caption is empty, so the model captions the LR as it does for a user's request)."""
    caption = (row["caption"] or "") if caption_source == "stored" else ""
    return EvalItem(row["sample_id"], row["lr_png"], row["hr_png"], caption)


def score_table(scored: list[ScoredImage]) -> pd.DataFrame:
    """One row per image: sample_id, every metric, bicubic PSNR/SSIM, seconds, and the caption
    the model was conditioned on."""
    return pd.DataFrame([{"sample_id": s.name, **s.scores, "seconds": s.seconds, "caption": s.caption} for s in scored])


def evaluate_model(
    model_uri: str,
    store: FeatureStoreConfig,
    tracking: TrackingConfig,
    serve: ServeConfig,
    snapshot: str | None = None,
    limit: int | None = None,
    quality: QualityMetricsConfig | None = None,
    grid_rows: int = 8,
    sampling: SamplingOptions | None = None,
    sweep_setting: str | None = None,
) -> EvaluationResult:
    """Run the registered pyfunc on every eval row's LR and score it against the HR crop.

    ``quality``: learned metrics to add to PSNR/SSIM (default: all, each reported unavailable
    when pyiqa or its weights are missing). ``grid_rows``: samples shown in the logged grid.
    ``sampling``: how to sample (default: ``serve.sampling``); ``sweep_setting``: the sweep
    setting it comes from, tagged on the run (``eval.sweep_setting``). ``quality.caption_source``
    and ``quality.convention``: see the module docstring.
    """
    sampling = sampling or serve.sampling
    quality = quality or QualityMetricsConfig()
    snapshot_id = resolve_snapshot(store, snapshot)
    rows = _eval_rows(store, snapshot_id, limit)
    metric_set = load_metrics(quality)
    for line in metric_set.unavailable_lines():
        LOG.warning("%s", line)
    items = [eval_item(row, quality.caption_source) for row in rows]
    job = EvalJob(model_uri, tracking, serve.placement(), quality, sampling, min(quality.batch_size, serve.max_rows))
    scored = run_batches(job, items, metric_set=metric_set)
    table = score_table(scored)
    samples = [
        EvalSample(s.name, decode_image(item.lr_png), decode_image(item.hr_png), decode_image(s.sr_png))
        for item, s in zip(items[:grid_rows], scored)
    ]
    metrics = {f"eval_{column}": float(table[column].mean()) for column in table.columns if column not in _NOT_SCORES}
    lower = {m.name for m in metric_set.metrics if m.lower_better} | {"seconds"}
    logged = _LoggedEvaluation(model_uri, snapshot_id, sampling, sweep_setting, metrics, metric_set, table, quality)
    run_id = _log_run(store, tracking, logged, samples)
    return EvaluationResult(
        mlflow_run_id=run_id, snapshot_id=snapshot_id, images=len(rows), metrics=metrics,
        unavailable=dict(metric_set.unavailable), lower_better=tuple(sorted(f"eval_{name}" for name in lower)),
        convention=quality.convention, caption_source=quality.caption_source,
    )


@dataclass(frozen=True)
class _LoggedEvaluation:
    model_uri: str
    snapshot_id: int
    sampling: SamplingOptions
    sweep_setting: str | None
    metrics: dict[str, float]
    metric_set: MetricSet
    table: pd.DataFrame
    quality: QualityMetricsConfig


def _log_run(
    store: FeatureStoreConfig, tracking: TrackingConfig, logged: _LoggedEvaluation, grid_samples: list[EvalSample]
) -> str:
    client = tracking_client(tracking)
    metric_set, snapshot_id = logged.metric_set, logged.snapshot_id
    params = {
        "model_uri": logged.model_uri, "featurestore.snapshot_id": str(snapshot_id),
        **{name: str(value) for name, value in logged.sampling.as_params().items()},
        "metrics": ",".join(metric.name for metric in metric_set.metrics),
        "evaluate.convention": logged.quality.convention, "evaluate.caption_source": logged.quality.caption_source,
        "evaluate.batch_size": str(logged.quality.batch_size), "evaluate.num_workers": str(logged.quality.num_workers),
    }
    run_id = create_run(client, experiment_id(client, tracking), "evaluate", params)
    log_dataset_input(client, run_id, snapshot_dataset(store, snapshot_id), context="evaluation")
    for key, value in logged.metrics.items():
        client.log_metric(run_id, key, value)
    client.set_tag(run_id, "eval.convention", logged.quality.convention)
    client.set_tag(run_id, "eval.caption_source", logged.quality.caption_source)
    if logged.sweep_setting is not None:
        client.set_tag(run_id, "eval.sweep_setting", logged.sweep_setting)
    for name, reason in metric_set.unavailable.items():
        client.set_tag(run_id, f"eval.unavailable.{name}", reason[:5000])
    client.log_table(run_id, logged.table, TABLE_FILE)
    grid = comparison_grid([GridRow(hr=s.hr, lr=s.lr, sr=s.sr) for s in grid_samples])
    client.log_image(run_id, grid, artifact_file=GRID_FILE)
    client.set_terminated(run_id, "FINISHED")
    return run_id
