"""Typed configuration of ``mmsr train-vq``: fit the VQ modality tokenizer on a snapshot's maps."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from featurestore.modality import Modality
from trainers.harness.ray_run_config import RayRunConfig


@dataclass(frozen=True)
class VqTrainConfig(RayRunConfig):
    """``vq_train:``; the workers, precision, checkpoint and Ray fields come from :class:`RayRunConfig`
    (``seed`` also seeds the random initial VQModel, the same on every worker)."""

    init_model: str | None = None
    """Hub id or local path of a diffusers ``VQModel`` to start from; None = a random one of ``preset``."""
    init_subfolder: str | None = None
    """Subfolder of ``init_model`` holding the VQModel (e.g. "vq" inside an MMSR pipeline)."""
    init_revision: str | None = None
    preset: Literal["tiny", "sd2"] = "tiny"
    """Size of the random VQModel when ``init_model`` is None (``trainers.models.presets``)."""
    output_dir: str = "mmsr-runs/models/vq-tokenizer"
    """Where the fitted tokenizer is ``save_pretrained`` (local path): what ``preprocess.tokenizer.vq_model``
    points at (with ``vq_subfolder: null``)."""
    snapshot: str | None = None
    """Feature-store snapshot id or tag; None = the current snapshot."""
    modalities: tuple[Literal["depth", "segmentation", "edges"], ...] = ("depth", "segmentation", "edges")
    """Spatial modalities whose maps the tokenizer is fitted on (each present map is one image)."""
    steps: int = 1000
    batch_size: int = 8
    """Maps per worker and per step."""
    learning_rate: float = 1e-4
    weight_decay: float = 0.0
    reconstruction_loss: Literal["l1", "mse"] = "l1"
    commitment_weight: float = 1.0
    """Weight of the VQModel's ``commit_loss`` (codebook + beta * commitment term) in the loss."""
    max_grad_norm: float | None = 1.0
    """Clip the global gradient norm to this (after fp16 unscaling); None = no clipping."""
    eval_every: int = 500
    """Steps between reconstruction evaluations on the eval split (the last step is always evaluated)."""
    eval_max_rows: int = 64
    """Eval-split rows (each up to one map per modality) read per evaluation, on rank 0."""

    def __post_init__(self) -> None:
        self.check_run_fields("vq_train")
        for name in ("steps", "batch_size", "eval_every", "eval_max_rows"):
            if getattr(self, name) < 1:
                raise ValueError(f"vq_train.{name} must be >= 1, got {getattr(self, name)}")
        if self.learning_rate <= 0:
            raise ValueError(f"vq_train.learning_rate must be > 0, got {self.learning_rate}")
        if self.commitment_weight < 0:
            raise ValueError(f"vq_train.commitment_weight must be >= 0, got {self.commitment_weight}")
        if self.max_grad_norm is not None and self.max_grad_norm <= 0:
            raise ValueError(f"vq_train.max_grad_norm must be > 0 or null, got {self.max_grad_norm}")
        if not self.modalities:
            raise ValueError("vq_train.modalities must name at least one spatial modality")
        if len(set(self.modalities)) != len(self.modalities):
            raise ValueError(f"vq_train.modalities lists a modality twice: {self.modalities}")
        if not self.output_dir:
            raise ValueError("vq_train.output_dir must be a path")

    @property
    def modality_list(self) -> tuple[Modality, ...]:
        """The configured modalities as enum members, in config order."""
        return tuple(Modality(m) for m in self.modalities)
