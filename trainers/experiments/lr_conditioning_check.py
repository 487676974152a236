"""LR conditioning check: does the UNet learn more from the LR's VAE latent than from its pixels?

The paper conditions "similar to InstructPix2Pix": the VAE latent of the upsampled LR is
concatenated to the noisy latent (``lr_conditioning="latent"``). The ablation concatenates the LR's
pixels resized to the latent grid instead (``"pixel"``). Per seed, both variants start from a
random tiny pipeline of that seed with the one fitted VAE stand-in of the learning check, and train
on the same crops, batches, VAE samples, noise and timesteps with every modality ``m_empty``; both are
scored by the held-out denoising loss on crops of photos they never saw
(:func:`trainers.experiments.learning_check.heldout_loss`, same fixed generators). The loss target
(the noise on the HR's latent) is the same for both, so the losses compare directly.

The scale matters: with SD2's f8 VAE at x4 the latent grid is half the LR's side, so the pixel
variant halves the LR, and the latent one keeps what the VAE keeps of the upsampled LR. The tiny
preset's VAE is f4, so its x4 latent grid is the LR's own size (the pixel variant loses nothing);
``DEFAULT_SCALE`` = 2 recreates the paper's ratio (latent grid = LR side / 2).

Run it: ``python -m trainers.experiments.lr_conditioning_check --steps 500 --seeds 0 1 2 [--scale 2]``.
The measured results are in the README ("Measured here", LR conditioning row).
"""

from __future__ import annotations

import argparse
import tempfile
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import get_args

import numpy as np
import torch

from pipelines.degradation import DegradationConfig
from trainers.experiments.learning_check import (
    LearningCheckConfig,
    heldout_loss,
    make_crops,
    split_and_fit_vae,
    standard_error,
    train_arm,
)
from trainers.experiments.learning_check_calibration import calibrated_base
from trainers.models.conditional_unet import LrConditioning
from trainers.models.sr_pipeline import MMSRPipeline

DEFAULT_SCALE = 2
"""SR scale of the crops: the tiny f4 VAE's latent grid is then half the LR's side, as SD2's f8 at x4."""


@dataclass(frozen=True)
class ConditioningOutcome:
    seed: int
    losses: dict[str, float]
    """Held-out mean denoising loss per LR conditioning (``"latent"``, ``"pixel"``)."""

    @property
    def latent_gain(self) -> float:
        """pixel - latent held-out loss: > 0 when the latent conditioning learns more."""
        return self.losses["pixel"] - self.losses["latent"]


@dataclass(frozen=True)
class ConditioningCheckResult:
    outcomes: tuple[ConditioningOutcome, ...]

    def mean_loss(self, conditioning: LrConditioning) -> float:
        return float(np.mean([o.losses[conditioning] for o in self.outcomes]))

    @property
    def latent_gain(self) -> float:
        """Mean over seeds of (pixel - latent) held-out loss."""
        return float(np.mean([o.latent_gain for o in self.outcomes]))

    @property
    def latent_gain_stderr(self) -> float:
        """Standard error of ``latent_gain`` over the seeds (0 for one seed)."""
        return standard_error([o.latent_gain for o in self.outcomes])


def run_seed(
    photos: tuple[Mapping[str, np.ndarray], Mapping[str, np.ndarray]], work_dir: Path, vae_dir: Path,
    config: LearningCheckConfig, seed: int, scale: int = DEFAULT_SCALE,
) -> ConditioningOutcome:
    """Both LR conditionings for one seed: same crops (x``scale``), init seed, batches and noise; no modality."""
    degradation = DegradationConfig(scale=scale)
    train = make_crops(photos[0], config.train_crops_per_photo, config, seed, degradation)
    held_out = make_crops(photos[1], config.eval_crops_per_photo, config, seed, degradation)
    losses = {}
    for conditioning in get_args(LrConditioning):
        variant = replace(config, lr_conditioning=conditioning)
        base_model = calibrated_base(work_dir / conditioning, train.edges, vae_dir, variant, seed)
        pipeline = MMSRPipeline.from_pretrained(base_model)
        train_arm(pipeline, train, None, variant, seed)
        losses[conditioning] = heldout_loss(pipeline, held_out, None, variant)
    return ConditioningOutcome(seed, losses)


def run_conditioning_check(
    work_dir: Path, config: LearningCheckConfig = LearningCheckConfig(), photos: Mapping[str, np.ndarray] | None = None,
    scale: int = DEFAULT_SCALE,
) -> ConditioningCheckResult:
    """Both conditionings for every seed at SR ``scale`` (models under ``work_dir``); photos default
    to the demo photos."""
    split, vae_dir = split_and_fit_vae(work_dir, config, photos)
    return ConditioningCheckResult(
        tuple(run_seed(split, work_dir, vae_dir, config, seed, scale) for seed in config.seeds)
    )


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=LearningCheckConfig.steps)
    parser.add_argument("--seeds", type=int, nargs="+", default=list(LearningCheckConfig().seeds))
    parser.add_argument("--vae-fit-steps", type=int, default=LearningCheckConfig.vae_fit_steps)
    parser.add_argument("--scale", type=int, default=DEFAULT_SCALE, help="SR scale of the crops (LR side = 32 / scale)")
    parser.add_argument("--threads", type=int, default=None, help="torch intra-op threads (default: torch's)")
    args = parser.parse_args(argv)
    if args.threads:
        torch.set_num_threads(args.threads)
    config = LearningCheckConfig(seeds=tuple(args.seeds), steps=args.steps, vae_fit_steps=args.vae_fit_steps)
    with tempfile.TemporaryDirectory() as work_dir:
        result = run_conditioning_check(Path(work_dir), config, scale=args.scale)
    for o in result.outcomes:
        print(f"seed {o.seed}: held-out loss latent {o.losses['latent']:.5f}  pixel {o.losses['pixel']:.5f}")
    print(
        f"mean: latent {result.mean_loss('latent'):.5f}  pixel {result.mean_loss('pixel'):.5f}  "
        f"latent gain {result.latent_gain:.5f} +- {result.latent_gain_stderr:.5f} (standard error over seeds)"
    )


if __name__ == "__main__":
    main()
