"""The ``evaluate`` config section: what the model is given, how PSNR/SSIM are computed, and which
learned image-quality metrics are added to them."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal, get_args

from orchestration.evaluation.fidelity_convention import CONVENTIONS, Convention

OptionalMetric = Literal["lpips", "dists", "niqe", "musiq", "clipiqa"]
OPTIONAL_METRICS: tuple[OptionalMetric, ...] = get_args(OptionalMetric)
EvalCaptionSource = Literal["lr", "stored"]
EVAL_CAPTION_SOURCES: tuple[EvalCaptionSource, ...] = get_args(EvalCaptionSource)


@dataclass(frozen=True)
class QualityMetricsConfig:
    metrics: tuple[OptionalMetric, ...] = OPTIONAL_METRICS
    """Learned metrics to compute when available (PSNR and SSIM are always computed)."""
    weights_dir: str = "mmsr-runs/models/iqa"
    """Where the learned metrics' weight files are (see ``WEIGHT_FILES``)."""
    device: str = "cpu"
    convention: Convention = "basicsr-y"
    """How PSNR/SSIM are computed (``orchestration.evaluation.fidelity_convention``): ``basicsr-y``
    (BasicSR/SwinIR: Y of BT.601, border of ``scale`` cropped, 11x11 Gaussian SSIM), ``pyiqa-y``
    (SeeSR-style pyiqa calls), ``rgb`` (plain RGB, 7x7 uniform SSIM)."""
    caption_source: EvalCaptionSource = "lr"
    """``lr``: the model gets the LR only, as in serving (its packaged captioner captions the LR, or
    no caption without one). ``stored``: each eval row's stored caption, which was made from the HR
    (an oracle: not what a user can send). Promotion always uses ``lr``."""
    num_workers: int = 1
    """Model replicas scoring rows at once: 1 runs in this process; more run as a Ray Data job,
    one replica per actor (``orchestration.evaluation.eval_runner``). Scores do not depend on it."""
    gpus_per_worker: float = 0.0
    """GPUs each replica reserves when ``num_workers`` > 1 (0: CPU workers)."""
    threads_per_worker: int | None = None
    """Torch threads (and Ray CPUs) of each CPU replica; None: the machine's cores divided among
    the workers. Scores are bit-identical across worker counts at the same threads per worker
    (torch's CPU reductions may round differently with another thread count)."""
    batch_size: int = 4
    """Rows of the same LR size denoised in one call (one batch of noise: part of the protocol)."""
    seed: int = 0
    """Seed of the degradation that makes the LRs of an HR-only set (``--hr``), with each file's hash."""

    def __post_init__(self) -> None:
        unknown = sorted(set(self.metrics) - set(OPTIONAL_METRICS))
        if unknown:
            raise ValueError(f"evaluate.metrics has unknown entries {unknown}; choose from {list(OPTIONAL_METRICS)}")
        if self.convention not in CONVENTIONS:
            raise ValueError(f"evaluate.convention must be one of {list(CONVENTIONS)}, got {self.convention!r}")
        if self.num_workers < 1:
            raise ValueError(f"evaluate.num_workers must be >= 1, got {self.num_workers}")
        if self.gpus_per_worker < 0:
            raise ValueError(f"evaluate.gpus_per_worker must be >= 0, got {self.gpus_per_worker}")
        if self.threads_per_worker is not None and self.threads_per_worker < 1:
            raise ValueError(f"evaluate.threads_per_worker must be >= 1, got {self.threads_per_worker}")
        if self.batch_size < 1:
            raise ValueError(f"evaluate.batch_size must be >= 1, got {self.batch_size}")
        if self.caption_source not in EVAL_CAPTION_SOURCES:
            raise ValueError(f"evaluate.caption_source must be one of {list(EVAL_CAPTION_SOURCES)}, got {self.caption_source!r}")
