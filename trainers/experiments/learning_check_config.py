"""The learning check's settings (see :mod:`trainers.experiments.learning_check`)."""

from __future__ import annotations

from dataclasses import dataclass

from trainers.models.conditional_unet import LrConditioning
from trainers.models.presets import ModelPreset


@dataclass(frozen=True)
class LearningCheckConfig:
    seeds: tuple[int, ...] = (0, 1, 2)
    """One run of both arms per seed (model init, crops, data order, noise); results are averaged."""
    steps: int = 500
    batch_size: int = 8
    learning_rate: float = 2e-3
    crop_size: int = 32
    """HR crop side; the LR side is ``crop_size / scale`` (Real-ESRGAN degradation)."""
    vae_fit_steps: int = 1500
    vae_fit_batch_size: int = 16
    vae_fit_learning_rate: float = 2e-3
    vae_fit_crops_per_photo: int = 128
    """Crops of each training photo the VAE stand-in is fitted on (more than the arms train on)."""
    vae_seed: int = 0
    """Seed of the one VAE stand-in (init, crops, batches): fitted once, shared by every seed's arms."""
    train_crops_per_photo: int = 32
    eval_crops_per_photo: int = 16
    eval_repeats: int = 4
    """Noise / timestep draws per held-out crop."""
    eval_photos: tuple[str, ...] = ("chelsea.png", "china.jpg")
    """File names of the demo photos held out for evaluation; the others are trained on."""
    canny_low: int = 50
    canny_high: int = 100
    modality_dropout: float = 0.0
    preset: ModelPreset = "tiny"
    lr_conditioning: LrConditioning = "pixel"
    """How the arms' UNets see the LR (the numbers in the README were measured with ``pixel``)."""

    def __post_init__(self) -> None:
        positive = (
            "steps", "batch_size", "crop_size", "train_crops_per_photo", "eval_crops_per_photo", "eval_repeats",
            "vae_fit_steps", "vae_fit_batch_size", "vae_fit_crops_per_photo",
        )
        for name in positive:
            if getattr(self, name) < 1:
                raise ValueError(f"learning_check.{name} must be >= 1, got {getattr(self, name)}")
        if not self.seeds:
            raise ValueError("learning_check.seeds must name at least one seed")
        if not self.eval_photos:
            raise ValueError("learning_check.eval_photos must name at least one photo")
        for name in ("learning_rate", "vae_fit_learning_rate"):
            if getattr(self, name) <= 0:
                raise ValueError(f"learning_check.{name} must be > 0, got {getattr(self, name)}")
