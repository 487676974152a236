"""Typed configuration of the preprocessing job (``mmsr preprocess``)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

from pipelines.degradation.config import DegradationConfig
from pipelines.modalities.extractor import ModalityExtractionConfig
from pipelines.runner_options import RunnerConfig

PIPELINE_VERSION = "0.2.0"
"""Bumped whenever the job's output for the same inputs and config changes (0.2.0: sample ids hash
only the content settings, see :mod:`pipelines.sample_identity`)."""


@dataclass(frozen=True)
class TokenizerConfig:
    """Models that turn modality maps and captions into tokens."""

    vq_model: str = "mmsr-runs/models/vq-tokenizer"
    """Hub id or local path of a diffusers ``VQModel`` (f16, 1024 codes)."""
    vq_subfolder: str | None = None
    """Subfolder of ``vq_model`` holding the VQModel (e.g. "vq" inside an MMSR pipeline)."""
    vq_revision: str | None = None
    clip_model: str = "stabilityai/stable-diffusion-2-1-base"
    """Hub id or local path holding ``tokenizer/`` (CLIP) as in Stable Diffusion 2 repos."""
    clip_revision: str | None = None


@dataclass(frozen=True)
class PreprocessConfig:
    """Everything that decides the rows of one feature-store commit.

    Each field's role in sample identity (content, extractor or policy knob) is given in
    :data:`pipelines.sample_identity.FIELD_ROLES`.
    """

    input: str = "mmsr-runs/sample_hr"
    """Local path, directory, glob, fsspec URL (gs://, s3://) or manifest (.txt/.jsonl) of HR images."""
    crop_size: int = 512
    """Side of the square HR crop; the LR side is crop_size / degradation.scale."""
    crops_per_image: int = 1
    """Random crops (each its own sample, degraded independently) taken from every HR image."""
    degradations_per_crop: int = 1
    """Stored LRs of every crop: each its own sample (id, degradation draw, full row), all sharing
    the crop's one extraction of modalities and tokens (so ``modalities.source`` must be ``hr``
    above 1). Variant 0 is the sample of today's crop, byte for byte."""
    eval_fraction: float = 0.2
    """Share of samples (chosen by a hash of the sample id) that go to the eval split."""
    seed: int = 0
    max_error_rate: float = 0.01
    """The job fails if more than this share of inputs is rejected."""
    rows_per_file: int = 512
    """Target rows per Parquet data file."""
    device: Literal["cpu", "cuda"] = "cpu"
    degradation: DegradationConfig = field(default_factory=DegradationConfig)
    modalities: ModalityExtractionConfig = field(default_factory=ModalityExtractionConfig)
    tokenizer: TokenizerConfig = field(default_factory=TokenizerConfig)
    runner: RunnerConfig = field(default_factory=RunnerConfig)

    def __post_init__(self) -> None:
        if self.crop_size <= 0 or self.crop_size % (16 * self.degradation.scale):
            raise ValueError(
                f"crop_size must be a positive multiple of {16 * self.degradation.scale}, got {self.crop_size}"
            )
        if self.crops_per_image < 1:
            raise ValueError(f"crops_per_image must be >= 1, got {self.crops_per_image}")
        if self.degradations_per_crop < 1:
            raise ValueError(f"degradations_per_crop must be >= 1, got {self.degradations_per_crop}")
        if self.degradations_per_crop > 1 and self.modalities.source != "hr":
            raise ValueError(
                "degradations_per_crop above 1 shares one extraction per crop, so it needs modalities.source: hr "
                f"(got {self.modalities.source!r}: each LR would have its own modalities)"
            )
        if not 0.0 <= self.eval_fraction < 1.0:
            raise ValueError(f"eval_fraction must be in [0, 1), got {self.eval_fraction}")
        if not 0.0 <= self.max_error_rate <= 1.0:
            raise ValueError(f"max_error_rate must be in [0, 1], got {self.max_error_rate}")
        if self.rows_per_file < 1:
            raise ValueError(f"rows_per_file must be >= 1, got {self.rows_per_file}")
