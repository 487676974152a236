"""A model version's evaluation on one snapshot, kept as a version tag so it is scored only once.

Tag ``mmsr.eval.<snapshot_id>`` holds JSON ``{"metrics", "protocol", "run_id", "images"}``; one tag
per snapshot, written in one call, so a reader never sees half an evaluation. A recorded
evaluation is reused only under the same protocol (sampling steps, guidance mode, row limit,
PSNR/SSIM convention, caption source, batch size: rows denoised together share one noise draw):
scores taken under different settings are never compared.
Promotion scores what serving sees: ``caption_source`` ``lr`` whatever ``evaluate.caption_source`` says.
"""

from __future__ import annotations

import json
import re
from dataclasses import replace
from typing import Any, Protocol

from mlflow.tracking import MlflowClient

from featurestore.config import FeatureStoreConfig
from orchestration.evaluation.evaluate import EvaluationResult, evaluate_model
from orchestration.evaluation.quality_metrics_config import QualityMetricsConfig
from orchestration.serving.serve_config import ServeConfig
from trainers.tracking.tracking_config import TrackingConfig

EVAL_TAG_PREFIX = "mmsr.eval."
_MODEL_URI = re.compile(r"^models:/(?P<name>[^/@]+)(?:/(?P<version>\d+)|@(?P<alias>.+))$")


class EvalLimit(Protocol):
    @property
    def eval_limit(self) -> int | None: ...


class ScoringSections(Protocol):
    """The config sections scoring a registered version reads (``MmsrConfig`` has them; this
    module sits below it and names only what it uses)."""

    @property
    def featurestore(self) -> FeatureStoreConfig: ...
    @property
    def tracking(self) -> TrackingConfig: ...
    @property
    def serve(self) -> ServeConfig: ...
    @property
    def evaluate(self) -> QualityMetricsConfig: ...
    @property
    def promotion(self) -> EvalLimit: ...


def eval_tag(snapshot_id: int) -> str:
    return f"{EVAL_TAG_PREFIX}{snapshot_id}"


def eval_protocol(serve: ServeConfig, limit: int | None, quality: QualityMetricsConfig) -> dict[str, Any]:
    """The settings that change scores besides the model and the snapshot."""
    sampling = serve.sampling
    return {
        "steps": sampling.steps, "guidance_mode": sampling.guidance_mode, "guidance_scale": sampling.guidance_scale,
        "negative_prompt": sampling.negative_prompt, "temperature_schedule": sampling.temperature_schedule,
        "limit": limit,
        "convention": quality.convention, "caption_source": quality.caption_source,
        "batch_size": min(quality.batch_size, serve.max_rows),
    }


def promotion_quality(quality: QualityMetricsConfig) -> QualityMetricsConfig:
    """``quality`` as promotion uses it: the model gets the LR only (``caption_source`` ``lr``)."""
    return replace(quality, caption_source="lr")


def record_evaluation(
    client: MlflowClient, name: str, version: int, snapshot_id: int, metrics: dict[str, float],
    protocol: dict[str, Any], run_id: str | None = None, images: int | None = None,
) -> None:
    """Write ``metrics`` of ``name`` version ``version`` on ``snapshot_id`` as its eval tag."""
    value = {"metrics": metrics, "protocol": protocol, "run_id": run_id, "images": images}
    client.set_model_version_tag(name, str(version), eval_tag(snapshot_id), json.dumps(value, sort_keys=True))


def recorded_metrics(
    client: MlflowClient, name: str, version: int, snapshot_id: int, protocol: dict[str, Any]
) -> dict[str, float] | None:
    """The metrics recorded for this version, snapshot and protocol; None if there are none."""
    raw = client.get_model_version(name, str(version)).tags.get(eval_tag(snapshot_id))
    if raw is None:
        return None
    record = json.loads(raw)
    if record.get("protocol") != protocol:
        return None
    return {key: float(value) for key, value in record["metrics"].items()}


def version_metrics(config: ScoringSections, client: MlflowClient, version: int, snapshot_id: int) -> dict[str, float]:
    """Recorded metrics of ``version`` on ``snapshot_id``, else ``evaluate_model`` (then recorded)."""
    name = config.tracking.registered_model
    quality = promotion_quality(config.evaluate)
    protocol = eval_protocol(config.serve, config.promotion.eval_limit, quality)
    recorded = recorded_metrics(client, name, version, snapshot_id, protocol)
    if recorded is not None:
        return recorded
    result = evaluate_model(
        f"models:/{name}/{version}", config.featurestore, config.tracking, config.serve,
        str(snapshot_id), config.promotion.eval_limit, quality=quality,
    )
    record_evaluation(client, name, version, snapshot_id, result.metrics, protocol, result.mlflow_run_id, result.images)
    return result.metrics


def registered_version(client: MlflowClient, tracking: TrackingConfig, model_uri: str) -> int | None:
    """The version of the configured registered model ``model_uri`` names (``models:/<name>/<n>``
    or ``models:/<name>@<alias>``); None for any other URI."""
    match = _MODEL_URI.match(model_uri)
    if match is None or match["name"] != tracking.registered_model:
        return None
    if match["version"] is not None:
        return int(match["version"])
    return int(client.get_model_version_by_alias(tracking.registered_model, match["alias"]).version)


def record_result(
    client: MlflowClient, tracking: TrackingConfig, model_uri: str, result: EvaluationResult, protocol: dict[str, Any]
) -> int | None:
    """Record ``result`` on the version ``model_uri`` names, if it names one; returns that version."""
    version = registered_version(client, tracking, model_uri)
    if version is not None:
        record_evaluation(
            client, tracking.registered_model, version, result.snapshot_id, result.metrics, protocol,
            result.mlflow_run_id, result.images,
        )
    return version
