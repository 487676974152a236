"""One retraining cycle, written once: train, register, evaluate and record, promote.

``mmsr train --register``, ``mmsr evaluate``, ``mmsr promote``, the quickstart and the Dagster
assets are thin callers of these steps; none of them repeats the sequence. ``run_cycle`` is the
whole cycle (train -> register as ``challenger`` -> promote, whose gate evaluates the candidate and
the champion on one snapshot and records both), each step inside the caller's ``stage`` context
(the quickstart's progress bar and stage clock).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Mapping
from contextlib import AbstractContextManager, nullcontext
from dataclasses import dataclass

from orchestration.evaluation.evaluate import EvaluationResult, evaluate_model
from orchestration.evaluation.evaluation_tags import eval_protocol, record_result
from orchestration.evaluation.quality_metrics_config import QualityMetricsConfig
from orchestration.mmsr_config import MmsrConfig
from orchestration.ray_runtime import local_ray
from orchestration.registry.model_registry import RegisteredVersion, register_pipeline
from orchestration.registry.promotion import PromotionDecision, promote_version
from orchestration.registry.training_extractors import training_extractors
from trainers.recipes.train_job import TrainResult, run_training
from trainers.tracking.mlflow_runs import tracking_client

Stage = Callable[[str, str], AbstractContextManager[object]]
"""``stage(name, description)``: a context each step runs in (e.g. ``StageClock.stage``)."""


def _no_stage(name: str, description: str) -> AbstractContextManager[object]:
    return nullcontext()


@dataclass(frozen=True)
class CycleResult:
    trained: TrainResult
    registered: RegisteredVersion
    decision: PromotionDecision


def train_model(
    config: MmsrConfig, run_name: str | None = None, snapshot: str | None = None, ray_log_to_driver: bool = True
) -> TrainResult:
    """Ray Train on ``snapshot`` (default ``train.snapshot``, else the current one), on the
    configured cluster or a local Ray; LRs drawn on the fly use the preprocessing degradation."""
    train = config.train if snapshot is None else dataclasses.replace(config.train, snapshot=snapshot)
    with local_ray(train.cpus, train.ray_address, ray_log_to_driver):  # a retried run resumes its checkpoint
        return run_training(
            train, config.featurestore, config.tracking, run_name, lr_degradation=config.preprocess.degradation
        )


def register_trained(config: MmsrConfig, trained: TrainResult, tags: Mapping[str, str] | None = None) -> RegisteredVersion:
    """Register ``trained`` as a new version under the ``challenger`` alias, tagged with its snapshot,
    packaging the extractor settings its training rows were made with (refused if the config differs)."""
    version_tags = {"featurestore.snapshot_id": str(trained.snapshot_id), **(tags or {})}
    return register_pipeline(
        config.tracking, config.serve, trained.mlflow_run_id, trained.model_dir, version_tags,
        alias=config.promotion.challenger_alias, extractors=config.preprocess.modalities,
        trained_on=training_extractors(config.featurestore, trained.snapshot_id),
    )


def evaluate_and_record(
    config: MmsrConfig, model_uri: str, snapshot: str | None, limit: int | None, quality: QualityMetricsConfig
) -> tuple[EvaluationResult, int | None]:
    """Score ``model_uri`` on ``snapshot``'s eval split; if it names a version of the registered
    model, record the scores on it (``promote`` reuses them under the same protocol)."""
    result = evaluate_model(
        model_uri, config.featurestore, config.tracking, config.serve, snapshot, limit, quality=quality
    )
    protocol = eval_protocol(config.serve, limit, quality)
    version = record_result(tracking_client(config.tracking), config.tracking, model_uri, result, protocol)
    return result, version


def promote(config: MmsrConfig, version: int, snapshot: str | None = None) -> PromotionDecision:
    """The gate (floor against bicubic, then every gate against the champion); moves ``champion`` if it passes."""
    return promote_version(config, version, snapshot)


def run_cycle(
    config: MmsrConfig, tags: Mapping[str, str] | None = None, run_name: str | None = None,
    stage: Stage = _no_stage, ray_log_to_driver: bool = True,
) -> CycleResult:
    """Train, register and promote, each step in ``stage``."""
    with stage("train", "train (Ray Train)"):
        trained = train_model(config, run_name, ray_log_to_driver=ray_log_to_driver)
    with stage("register", "register (MLflow)"):
        registered = register_trained(config, trained, tags)
    with stage("promote", "evaluate + promote (floor, gates)"):
        decision = promote(config, registered.version)
    return CycleResult(trained, registered, decision)
