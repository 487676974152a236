"""The whole product's configuration: one YAML file, one typed tree, validated at the boundary."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import ClassVar

from featurestore.config import FeatureStoreConfig
from orchestration.evaluation.quality_metrics_config import QualityMetricsConfig
from orchestration.registry.promotion_config import PromotionConfig
from orchestration.serving.serve_config import ServeConfig
from pipelines.preprocess_config import PreprocessConfig
from trainers.recipes.train_config import TrainConfig
from trainers.recipes.vq_train_config import VqTrainConfig
from trainers.tracking.tracking_config import TrackingConfig


@dataclass(frozen=True)
class MmsrConfig:
    """Sections map 1:1 to packages; ``mmsr <command>`` reads the sections it needs."""

    preprocess: PreprocessConfig = field(default_factory=PreprocessConfig)
    featurestore: FeatureStoreConfig = field(default_factory=FeatureStoreConfig)
    train: TrainConfig = field(default_factory=TrainConfig)
    tracking: TrackingConfig = field(default_factory=TrackingConfig)
    serve: ServeConfig = field(default_factory=ServeConfig)
    promotion: PromotionConfig = field(default_factory=PromotionConfig)
    evaluate: QualityMetricsConfig = field(default_factory=QualityMetricsConfig)
    vq_train: VqTrainConfig = field(default_factory=VqTrainConfig)

    MOVED_KEYS: ClassVar[dict[str, str]] = {
        f"serve.{name}": f"serve.sampling.{name}"
        for name in ("steps", "guidance_mode", "guidance_scale", "negative_prompt", "temperature_schedule")
    }
    """Keys of older configs and where they live now (named in the error an old key gets)."""
