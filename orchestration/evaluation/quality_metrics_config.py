"""The ``evaluate`` config section: which learned image-quality metrics to add to PSNR/SSIM."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal, get_args

OptionalMetric = Literal["lpips", "dists", "niqe", "musiq", "clipiqa"]
OPTIONAL_METRICS: tuple[OptionalMetric, ...] = get_args(OptionalMetric)


@dataclass(frozen=True)
class QualityMetricsConfig:
    metrics: tuple[OptionalMetric, ...] = OPTIONAL_METRICS
    """Learned metrics to compute when available (PSNR and SSIM are always computed)."""
    weights_dir: str = "mmsr-runs/models/iqa"
    """Where the learned metrics' weight files are (see ``WEIGHT_FILES``)."""
    device: str = "cpu"

    def __post_init__(self) -> None:
        unknown = sorted(set(self.metrics) - set(OPTIONAL_METRICS))
        if unknown:
            raise ValueError(f"evaluate.metrics has unknown entries {unknown}; choose from {list(OPTIONAL_METRICS)}")
