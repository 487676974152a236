"""``mmsr evaluate``: score a registered model on a snapshot's eval split and log it to MLflow."""

from __future__ import annotations

import base64
from dataclasses import dataclass

import cv2
import mlflow.pyfunc
import numpy as np
import pandas as pd
from skimage.metrics import peak_signal_noise_ratio, structural_similarity

from featurestore.config import FeatureStoreConfig
from featurestore.mlflow_dataset import snapshot_dataset
from featurestore.readers import read_arrow, resolve_snapshot
from orchestration.mlflow_runs import create_run, experiment_id, fluent_tracking, log_dataset_input, tracking_client
from orchestration.serve_config import ServeConfig
from orchestration.tracking_config import TrackingConfig


@dataclass(frozen=True)
class ImageScores:
    psnr: float
    ssim: float


@dataclass(frozen=True)
class EvaluationResult:
    mlflow_run_id: str
    snapshot_id: int
    images: int
    metrics: dict[str, float]


def score_image(sr: np.ndarray, hr: np.ndarray) -> ImageScores:
    """PSNR (dB) and SSIM of (H, W, 3) uint8 RGB ``sr`` against ``hr`` of the same shape."""
    if sr.shape != hr.shape:
        raise ValueError(f"SR shape {sr.shape} differs from HR shape {hr.shape}")
    psnr = peak_signal_noise_ratio(hr, sr, data_range=255)
    ssim = structural_similarity(hr, sr, channel_axis=2, data_range=255)
    return ImageScores(psnr=float(min(psnr, 100.0)), ssim=float(ssim))


def _decode_rgb(blob: bytes) -> np.ndarray:
    return cv2.cvtColor(cv2.imdecode(np.frombuffer(blob, np.uint8), cv2.IMREAD_COLOR), cv2.COLOR_BGR2RGB)


def evaluate_model(
    model_uri: str,
    store: FeatureStoreConfig,
    tracking: TrackingConfig,
    serve: ServeConfig,
    snapshot: str | None = None,
    limit: int | None = None,
) -> EvaluationResult:
    """Run the registered pyfunc on every eval row's LR; PSNR/SSIM against the HR crop."""
    snapshot_id = resolve_snapshot(store, snapshot)
    columns = ["sample_id", "split", "lr_png", "hr_png", "caption"]
    table = read_arrow(store, snapshot_id, columns=columns)
    rows = [row for row in table.to_pylist() if row["split"] == "eval"][:limit]
    if not rows:
        raise ValueError(f"snapshot {snapshot_id} has no eval rows (preprocess.eval_fraction is 0?)")
    with fluent_tracking(tracking):
        model = mlflow.pyfunc.load_model(model_uri)
    request = pd.DataFrame(
        {"image": [base64.b64encode(r["lr_png"]).decode() for r in rows], "caption": [r["caption"] or "" for r in rows]}
    )
    outputs = model.predict(request, params={"steps": serve.steps, "guidance_mode": serve.guidance_mode})
    per_image = []
    for row, encoded in zip(rows, outputs["image"]):
        scores = score_image(_decode_rgb(base64.b64decode(encoded)), _decode_rgb(row["hr_png"]))
        per_image.append({"sample_id": row["sample_id"], "psnr": scores.psnr, "ssim": scores.ssim})
    metrics = {
        "eval_psnr": float(np.mean([s["psnr"] for s in per_image])),
        "eval_ssim": float(np.mean([s["ssim"] for s in per_image])),
    }
    client = tracking_client(tracking)
    params = {"model_uri": model_uri, "featurestore.snapshot_id": str(snapshot_id), "steps": str(serve.steps)}
    run_id = create_run(client, experiment_id(client, tracking), "evaluate", params)
    log_dataset_input(client, run_id, snapshot_dataset(store, snapshot_id), context="evaluation")
    for key, value in metrics.items():
        client.log_metric(run_id, key, value)
    client.log_table(run_id, pd.DataFrame(per_image), "per_image_scores.json")
    client.set_terminated(run_id, "FINISHED")
    return EvaluationResult(mlflow_run_id=run_id, snapshot_id=snapshot_id, images=len(rows), metrics=metrics)
