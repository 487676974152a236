"""The whole product's configuration: one YAML file, one typed tree, validated at the boundary."""

from __future__ import annotations

from dataclasses import dataclass, field

from featurestore.config import FeatureStoreConfig
from orchestration.serve_config import ServeConfig
from orchestration.tracking_config import TrackingConfig
from pipelines.preprocess_config import PreprocessConfig
from trainers.train_config import TrainConfig


@dataclass(frozen=True)
class MmsrConfig:
    """Sections map 1:1 to packages; ``mmsr <command>`` reads the sections it needs."""

    preprocess: PreprocessConfig = field(default_factory=PreprocessConfig)
    featurestore: FeatureStoreConfig = field(default_factory=FeatureStoreConfig)
    train: TrainConfig = field(default_factory=TrainConfig)
    tracking: TrackingConfig = field(default_factory=TrackingConfig)
    serve: ServeConfig = field(default_factory=ServeConfig)
