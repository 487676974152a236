"""Typed configuration of ``mmsr train`` (Ray Train TorchTrainer over a feature-store snapshot)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from featurestore.modality import Modality
from trainers.harness.lr_schedule import LrSchedule
from trainers.harness.ray_run_config import RayRunConfig


@dataclass(frozen=True)
class TrainConfig(RayRunConfig):
    """``train:``; the workers, precision, checkpoint and Ray fields come from :class:`RayRunConfig`."""

    base_model: str = "mmsr-runs/models/mmsr-base"
    """Hub id or local path of an MMSRPipeline to start from (``save_pretrained`` layout)."""
    base_revision: str | None = None
    snapshot: str | None = None
    """Feature-store snapshot id or tag to train on; None = the current snapshot."""
    modalities: tuple[Literal["caption", "depth", "segmentation", "edges"], ...] = ("caption", "depth", "segmentation", "edges")
    """Modalities the MMLC sees; the others are always replaced by m_empty."""
    steps: int = 1000
    batch_size: int = 4
    """Per worker and per step (before gradient accumulation)."""
    gradient_accumulation: int = 1
    learning_rate: float = 1e-4
    """The peak rate (``lr_schedule``)."""
    lr_schedule: LrSchedule = "constant"
    """``constant`` or ``cosine`` (from the peak to 0 at the last step: ``trainers.harness.lr_schedule``)."""
    lr_warmup_steps: int = 0
    """Steps of linear warm-up from 0 to the peak, before the schedule."""
    weight_decay: float = 0.0
    modality_dropout: float = 0.1
    ema_decay: float = 0.999
    """EMA of the trained weights (kept float32 under any ``mixed_precision``)."""
    max_grad_norm: float | None = None
    """Clip the global gradient norm to this (after fp16 unscaling); None = no clipping."""
    encoding_cache_rows: int = 0
    """Rows per worker whose frozen-autoencoder encodings are kept between epochs (least recently
    used out first; ``trainers.data.encoding_cache``); 0 = encode every step. Worth it when a worker sees
    each row many times (small snapshots, many epochs)."""
    image_every: int | None = None
    """Steps between SR grids (LR | SR | HR of ``image_rows`` fixed eval rows, EMA weights,
    ``image_sample_steps`` DDIM steps) logged to the MLflow run as ``sr_grid/step_<step>.png``
    (the last step too); None = never."""
    image_rows: int = 4
    image_sample_steps: int = 4
    degradation: Literal["stored", "on_the_fly"] = "stored"
    """Where a train row's LR comes from: ``stored`` (the one the preprocess job drew), or
    ``on_the_fly`` (a new draw from the HR crop every epoch, with ``preprocess.degradation``'s
    settings and the generator of (sample id, epoch, ``seed``): ``trainers.data.lr_draws``). Eval rows
    always keep their stored LR. Under ``on_the_fly`` the encoding cache keeps HR latents only."""

    def __post_init__(self) -> None:
        self.check_run_fields("train")
        for name in ("steps", "batch_size", "gradient_accumulation"):
            if getattr(self, name) < 1:
                raise ValueError(f"train.{name} must be >= 1, got {getattr(self, name)}")
        if self.image_every is not None and self.image_every < 1:
            raise ValueError(f"train.image_every must be >= 1 or null, got {self.image_every}")
        for name in ("image_rows", "image_sample_steps"):
            if getattr(self, name) < 1:
                raise ValueError(f"train.{name} must be >= 1, got {getattr(self, name)}")
        if self.encoding_cache_rows < 0:
            raise ValueError(f"train.encoding_cache_rows must be >= 0, got {self.encoding_cache_rows}")
        if not 0.0 <= self.modality_dropout < 1.0:
            raise ValueError(f"train.modality_dropout must be in [0, 1), got {self.modality_dropout}")
        if not 0.0 <= self.ema_decay < 1.0:
            raise ValueError(f"train.ema_decay must be in [0, 1), got {self.ema_decay}")
        if self.learning_rate <= 0:
            raise ValueError(f"train.learning_rate must be > 0, got {self.learning_rate}")
        if not 0 <= self.lr_warmup_steps < self.steps:
            raise ValueError(f"train.lr_warmup_steps must be in 0..train.steps - 1, got {self.lr_warmup_steps}")
        if self.max_grad_norm is not None and self.max_grad_norm <= 0:
            raise ValueError(f"train.max_grad_norm must be > 0 or null, got {self.max_grad_norm}")
        if not self.modalities:
            raise ValueError("train.modalities must name at least one modality")

    @property
    def modality_set(self) -> frozenset[Modality]:
        return frozenset(Modality(m) for m in self.modalities)
