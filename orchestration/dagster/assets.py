"""Dagster assets of one retraining cycle: snapshot -> trained model -> evaluation -> promotion.

Thin on purpose: each asset loads the config from :class:`MmsrConfigResource` and calls the
functions the ``mmsr`` CLI calls (``preprocess``, ``train --register``, ``evaluate``,
``promote``), then records what it produced as materialization metadata (snapshot id, MLflow
run id, model version, promotion decision; snapshot ids as text: they are 64-bit, wider than the
integers the Dagster UI shows). The model is trained on the exact snapshot the
``feature_snapshot`` asset reported, and evaluated and judged on that snapshot too (or on
``promotion.eval_snapshot`` when one is configured).
"""

# No ``from __future__ import annotations`` here: Dagster reads these annotations at definition
# time (context type, resource parameters, input/output types) and needs real classes.
import dataclasses
from dataclasses import dataclass

import dagster as dg

from orchestration.dagster.resource import MmsrConfigResource
from orchestration.evaluation.evaluate import EvaluationResult, evaluate_model
from orchestration.evaluation.evaluation_tags import eval_protocol, promotion_quality, record_result
from orchestration.ray_runtime import local_ray
from orchestration.registry.model_registry import register_pipeline
from orchestration.registry.promotion import PromotionDecision, promote_version
from orchestration.registry.training_extractors import training_extractors
from pipelines.preprocess_job import PreprocessResult, run_preprocess
from trainers.mlflow_runs import tracking_client
from trainers.train_job import run_training

GROUP = "mmsr_retraining"


@dataclass(frozen=True)
class TrainedModel:
    """A trained pipeline, registered as a new version of ``tracking.registered_model``."""

    snapshot_id: int
    mlflow_run_id: str
    final_step: int
    version: int
    model_uri: str
    """``models:/<name>/<version>``"""


@dg.asset(group_name=GROUP, description="HR images -> one feature-store commit (as `mmsr preprocess`).")
def feature_snapshot(mmsr: MmsrConfigResource) -> dg.Output[PreprocessResult]:
    config = mmsr.load()
    mmsr.prepare_embedded_inputs(config)
    result = run_preprocess(config.preprocess, config.featurestore)
    if result.snapshot_id is None:
        raise dg.Failure(f"the feature store is empty and preprocess run {result.run_id} committed nothing")
    metadata = {
        "snapshot_id": str(result.snapshot_id), "preprocess_run_id": result.run_id, "inputs": result.inputs,
        "accepted": result.accepted, "rejected": result.rejected, "rows_added": result.added,
        "rows_replaced": result.replaced, "already_present": result.already_present,
    }
    return dg.Output(result, metadata=metadata)


@dg.asset(group_name=GROUP, description="Ray Train on that snapshot, registered in MLflow (as `mmsr train --register`).")
def trained_model(
    context: dg.AssetExecutionContext, mmsr: MmsrConfigResource, feature_snapshot: PreprocessResult
) -> dg.Output[TrainedModel]:
    config = mmsr.load()
    train = dataclasses.replace(config.train, snapshot=str(feature_snapshot.snapshot_id))
    with local_ray(train.cpus, train.ray_address):  # a retried step of the same run resumes its checkpoint
        result = run_training(
            train, config.featurestore, config.tracking, f"dagster-{context.run_id[:8]}",
            lr_degradation=config.preprocess.degradation,
        )
    tags = {"featurestore.snapshot_id": str(result.snapshot_id), "mmsr.source": "dagster", "dagster.run_id": context.run_id}
    registered = register_pipeline(
        config.tracking, config.serve, result.mlflow_run_id, result.model_dir, tags, alias=config.promotion.challenger_alias,
        extractors=config.preprocess.modalities,
        trained_on=training_extractors(config.featurestore, result.snapshot_id),
    )
    model = TrainedModel(
        snapshot_id=result.snapshot_id, mlflow_run_id=result.mlflow_run_id, final_step=result.final_step,
        version=registered.version, model_uri=registered.model_uri,
    )
    metadata = {
        "snapshot_id": str(model.snapshot_id), "mlflow_run_id": model.mlflow_run_id, "final_step": model.final_step,
        "model_version": model.version, "model_uri": model.model_uri,
    }
    return dg.Output(model, metadata=metadata)


@dg.asset(group_name=GROUP, description="PSNR/SSIM of the new version on the eval split, recorded on it (as `mmsr evaluate`).")
def model_evaluation(mmsr: MmsrConfigResource, trained_model: TrainedModel) -> dg.Output[EvaluationResult]:
    """Scores on ``promotion.eval_snapshot`` if set, else on the training snapshot, under the
    promotion protocol, so ``model_promotion`` reuses them instead of evaluating again."""
    config = mmsr.load()
    fixed = config.promotion.eval_snapshot
    snapshot = str(trained_model.snapshot_id if fixed is None else fixed)
    limit, quality = config.promotion.eval_limit, promotion_quality(config.evaluate)
    result = evaluate_model(
        trained_model.model_uri, config.featurestore, config.tracking, config.serve, snapshot, limit, quality=quality
    )
    protocol = eval_protocol(config.serve, limit, quality)
    record_result(tracking_client(config.tracking), config.tracking, trained_model.model_uri, result, protocol)
    metadata = {
        "snapshot_id": str(result.snapshot_id), "mlflow_run_id": result.mlflow_run_id, "model_version": trained_model.version,
        "images": result.images, **result.metrics,
    }
    return dg.Output(result, metadata=metadata)


@dg.asset(group_name=GROUP, description="Promotion gates; moves the champion alias if they pass (as `mmsr promote`).")
def model_promotion(
    mmsr: MmsrConfigResource, trained_model: TrainedModel, model_evaluation: EvaluationResult
) -> dg.Output[PromotionDecision]:
    """Gates the new version against the champion on the snapshot ``model_evaluation`` scored it on."""
    config = mmsr.load()
    decision = promote_version(config, trained_model.version, snapshot=str(model_evaluation.snapshot_id))
    metadata = {
        "snapshot_id": str(model_evaluation.snapshot_id), "model_version": trained_model.version,
        "champion_version": "none" if decision.champion_version is None else str(decision.champion_version),
        "decision": "promoted" if decision.promote else "rejected", "reasons": "; ".join(decision.reasons),
    }
    return dg.Output(decision, metadata=metadata)


RETRAINING_ASSETS: tuple[dg.AssetsDefinition, ...] = (feature_snapshot, trained_model, model_evaluation, model_promotion)
