"""Learning check: does edge conditioning lower the held-out denoising loss of a tiny MMSR model?

Arms train the same pipeline for the same number of steps, on the same crops in the same order,
with the same VAE samples, noise and timesteps; they differ only in their conditioning:

- *edges*: the MMLC reads the VQ codes of each crop's Canny map (extracted from the HR, as in training);
- *LR-only*: no modality at all (every slot ``m_empty``);
- *no-LR* (control): as LR-only with the LR image zeroed. It shows the check can see a conditioning
  signal at all: if no-LR is not worse than LR-only, the setup is too insensitive to judge edges.
- *oracle* (capacity control): the edge slot carries the HR's own VAE latent (posterior mean,
  nearest-upsampled to 16x16) instead of edge codes: the most a modality could tell. If even the
  oracle does not beat LR-only, the MMLC path has not learned to carry spatial information in this
  many steps, and an edges result says nothing about what edges contain.

All arms are scored on crops of held-out photos with the same fixed generators (same VAE samples,
noise and timesteps per crop). No Ray: only the pure pieces of ``trainers.models`` and ``pipelines``.

Random tiny models need two calibrations first, standing in for the pretrained SD VAE and VQGAN:
(1) a random VAE's latents barely depend on the image (its posterior noise exceeds the spread of
its means), so no conditioning could lower the loss: one VAE is fitted to
reconstruct crops of the training photos, once per check, and shared by every seed (as one
pretrained VAE would be); (2) the random VQ codebook is orders of magnitude below the MMLC's embeddings, so
edge tokens would be near invisible: it is redrawn (per seed) at the scale of the VQ encoder's outputs.

The VAE fit decides whether edges can help at all, since the loss is about the VAE's latent: the
stand-in must reconstruct held-out crops better than the bicubic-upsampled LR does, or its latent
holds nothing for edges to add. Canny 50/100 is used (100/200 leaves many crops edge-free). The
ceiling is :mod:`trainers.experiments.edge_information_probe`. The measured results, and what they
say about the oracle arm, are in the README ("Measured here", learning check row).

Run it: ``python -m trainers.experiments.learning_check --steps 500 --vae-fit-steps 1500 --canny 50 100 --seeds 0 1 2``.
"""

from __future__ import annotations

import argparse
import tempfile
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import get_args

import numpy as np
import torch

from pipelines.cropping import random_crop
from pipelines.degradation import DegradationConfig, degrade, derive_rng
from pipelines.demo_photos import DEMO_PHOTOS
from pipelines.image_decoding import decode_image
from pipelines.modalities.edges import canny_edges
from pipelines.pixel_range import to_model_range
from trainers.experiments.learning_check_arms import Arm, arm_features, arm_tokens
from trainers.experiments.learning_check_calibration import calibrated_base, fitted_vae
from trainers.experiments.learning_check_config import LearningCheckConfig
from trainers.models.sr_pipeline import MMSRPipeline
from trainers.models.training_step import DiffusionParts, diffusion_loss, freeze_conditioning_models

EVAL_SEED = 1_000_003
"""Seed of the fixed generators that score the held-out crops (the same for both arms)."""


def standard_error(values: Sequence[float]) -> float:
    """Standard error of the mean of ``values`` (0 for one value)."""
    return float(np.std(values, ddof=1) / np.sqrt(len(values))) if len(values) > 1 else 0.0


@dataclass(frozen=True)
class CropSet:
    """Training or evaluation crops and their edge maps."""

    hr: torch.Tensor
    """(N, 3, S, S) float32 in [-1, 1]."""
    lr: torch.Tensor
    """(N, 3, S / scale, S / scale) float32 in [-1, 1] (Real-ESRGAN degraded)."""
    edges: np.ndarray
    """(N, S, S) uint8 Canny maps of the HR (0 / 255)."""

    def __len__(self) -> int:
        return int(self.hr.shape[0])


@dataclass(frozen=True)
class SeedOutcome:
    seed: int
    edges_loss: float
    """Held-out mean denoising loss of the arm conditioned on HR edges."""
    lr_only_loss: float
    """Held-out mean denoising loss of the arm with every modality m_empty."""
    no_lr_loss: float
    """Held-out mean denoising loss of the control arm: no modality and the LR zeroed."""
    oracle_loss: float
    """Held-out mean denoising loss of the capacity arm: the HR's VAE latent as the edge-slot tokens."""


@dataclass(frozen=True)
class LearningCheckResult:
    outcomes: tuple[SeedOutcome, ...]

    @property
    def mean_edges_loss(self) -> float:
        return float(np.mean([o.edges_loss for o in self.outcomes]))

    @property
    def mean_lr_only_loss(self) -> float:
        return float(np.mean([o.lr_only_loss for o in self.outcomes]))

    @property
    def mean_no_lr_loss(self) -> float:
        return float(np.mean([o.no_lr_loss for o in self.outcomes]))

    @property
    def edges_help(self) -> bool:
        """True when the seed-averaged held-out loss is lower with edge conditioning."""
        return self.mean_edges_loss < self.mean_lr_only_loss

    @property
    def edges_gain(self) -> float:
        """Mean over seeds of (LR-only - edges) held-out loss: > 0 when edges help."""
        return float(np.mean([o.lr_only_loss - o.edges_loss for o in self.outcomes]))

    @property
    def edges_gain_stderr(self) -> float:
        """Standard error of ``edges_gain`` over the seeds (0 for one seed)."""
        return standard_error([o.lr_only_loss - o.edges_loss for o in self.outcomes])

    @property
    def oracle_gain(self) -> float:
        """Mean over seeds of (LR-only - oracle) held-out loss: what the MMLC path carries at best."""
        return float(np.mean([o.lr_only_loss - o.oracle_loss for o in self.outcomes]))

    @property
    def lr_helps(self) -> bool:
        """True when the seed-averaged held-out loss is lower with the LR than without (the control)."""
        return self.mean_lr_only_loss < self.mean_no_lr_loss


def demo_photos() -> dict[str, np.ndarray]:
    """The real photos of ``pipelines.demo_photos``: file name -> (H, W, 3) uint8 RGB."""
    return {photo.file_name: decode_image(photo.read()) for photo in DEMO_PHOTOS}


def split_photos(
    photos: Mapping[str, np.ndarray], eval_photos: Sequence[str]
) -> tuple[dict[str, np.ndarray], dict[str, np.ndarray]]:
    """(training photos, held-out photos): ``photos`` split by whether their file name is in ``eval_photos``."""
    train = {name: image for name, image in photos.items() if name not in eval_photos}
    return train, {name: image for name, image in photos.items() if name in eval_photos}


def _to_tensor(images: Sequence[np.ndarray]) -> torch.Tensor:
    """B (H, W, 3) uint8 -> (B, 3, H, W) float32 in [-1, 1]."""
    return to_model_range(torch.from_numpy(np.stack(images)).permute(0, 3, 1, 2))


def make_crops(
    photos: Mapping[str, np.ndarray], per_photo: int, config: LearningCheckConfig, seed: int,
    degradation: DegradationConfig = DegradationConfig(),
) -> CropSet:
    """``per_photo`` seeded random crops of each photo, their degraded LR and HR Canny maps.

    Crop ``i`` of photo ``name`` draws from ``derive_rng(f"{name}:{i}", seed)`` (position, then
    degradation), so the crops do not depend on which other photos are given.
    """
    hr, lr, edges = [], [], []
    for name in sorted(photos):
        for index in range(per_photo):
            rng = derive_rng(f"{name}:{index}", seed)
            crop = random_crop(photos[name], config.crop_size, rng, multiple_of=degradation.scale)
            hr.append(crop.pixels)
            lr.append(degrade(crop.pixels, degradation, rng).lr)
            edges.append(canny_edges(crop.pixels, config.canny_low, config.canny_high))
    return CropSet(hr=_to_tensor(hr), lr=_to_tensor(lr), edges=np.stack(edges))


def train_arm(
    pipeline: MMSRPipeline, crops: CropSet, features: torch.Tensor | None, config: LearningCheckConfig, seed: int
) -> list[float]:
    """Train UNet + MMLC in place for ``config.steps`` AdamW steps; the per-step training losses.

    ``features``: (N, 256, C_vq) edge-slot tokens of every crop, or None for no modality.

    Batches are drawn (without replacement within a batch) from a generator seeded by ``seed``,
    and so are the VAE samples, noise, timesteps and dropout: two arms of one seed see the same.
    """
    parameters = freeze_conditioning_models(pipeline)
    pipeline.unet.train()
    pipeline.mmlc.train()
    optimizer = torch.optim.AdamW(parameters, lr=config.learning_rate)
    parts = DiffusionParts.of(pipeline)
    order = torch.Generator().manual_seed(seed)
    generator = torch.Generator().manual_seed(seed + 1)
    losses = []
    for _ in range(config.steps):
        rows = torch.randperm(len(crops), generator=order)[: config.batch_size]
        tokens = arm_tokens(features, rows)
        loss = diffusion_loss(parts, crops.hr[rows], crops.lr[rows], tokens, generator, dropout_p=config.modality_dropout)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
        losses.append(float(loss.detach()))
    return losses


@torch.no_grad()
def heldout_loss(
    pipeline: MMSRPipeline, crops: CropSet, features: torch.Tensor | None, config: LearningCheckConfig
) -> float:
    """Mean denoising loss over the held-out crops, ``config.eval_repeats`` draws each, in eval mode.

    Batch ``b`` of repeat ``r`` uses a generator seeded ``EVAL_SEED + 1000 r + b``: every arm
    scores each crop at the same VAE sample, noise and timestep.
    """
    pipeline.unet.eval()
    pipeline.mmlc.eval()
    parts = DiffusionParts.of(pipeline)
    total, count = 0.0, 0
    for repeat in range(config.eval_repeats):
        for batch, start in enumerate(range(0, len(crops), config.batch_size)):
            rows = torch.arange(start, min(start + config.batch_size, len(crops)))
            generator = torch.Generator().manual_seed(EVAL_SEED + 1000 * repeat + batch)
            loss = diffusion_loss(parts, crops.hr[rows], crops.lr[rows], arm_tokens(features, rows), generator)
            total += float(loss) * len(rows)
            count += len(rows)
    return total / count


def _without_lr(crops: CropSet) -> CropSet:
    return CropSet(hr=crops.hr, lr=torch.zeros_like(crops.lr), edges=crops.edges)


def run_seed(
    photos: tuple[Mapping[str, np.ndarray], Mapping[str, np.ndarray]], work_dir: Path, vae_dir: Path,
    config: LearningCheckConfig, seed: int,
) -> SeedOutcome:
    """The four arms for one seed, each from a fresh load of the seed's calibrated base model.

    ``photos``: (training, held-out) photos; ``vae_dir``: the shared VAE stand-in (``fitted_vae``).
    """
    train = make_crops(photos[0], config.train_crops_per_photo, config, seed)
    held_out = make_crops(photos[1], config.eval_crops_per_photo, config, seed)
    base_model = calibrated_base(work_dir, train.edges, vae_dir, config, seed)
    losses = {}
    for arm in get_args(Arm):
        pipeline = MMSRPipeline.from_pretrained(base_model)
        arm_train, arm_eval = (_without_lr(train), _without_lr(held_out)) if arm == "no_lr" else (train, held_out)
        train_arm(pipeline, arm_train, arm_features(arm, pipeline, train.hr, train.edges), config, seed)
        losses[arm] = heldout_loss(pipeline, arm_eval, arm_features(arm, pipeline, held_out.hr, held_out.edges), config)
    return SeedOutcome(
        seed, edges_loss=losses["edges"], lr_only_loss=losses["lr_only"], no_lr_loss=losses["no_lr"],
        oracle_loss=losses["oracle"],
    )


def split_and_fit_vae(
    work_dir: Path, config: LearningCheckConfig, photos: Mapping[str, np.ndarray] | None
) -> tuple[tuple[dict[str, np.ndarray], dict[str, np.ndarray]], Path]:
    """((training, held-out) photos, the fitted VAE stand-in's folder): what every seed shares.
    ``photos`` default to :func:`demo_photos`."""
    photos = demo_photos() if photos is None else photos
    missing = set(config.eval_photos) - set(photos)
    if missing or len(photos) == len(config.eval_photos):
        raise ValueError(f"learning_check.eval_photos must name some but not all photos; unknown: {sorted(missing)}")
    split = split_photos(photos, config.eval_photos)
    vae_crops = make_crops(split[0], config.vae_fit_crops_per_photo, config, config.vae_seed)
    return split, fitted_vae(work_dir, vae_crops.hr, config)


def run_learning_check(
    work_dir: Path, config: LearningCheckConfig = LearningCheckConfig(), photos: Mapping[str, np.ndarray] | None = None
) -> LearningCheckResult:
    """Run the arms for every seed (models are written under ``work_dir``); photos default to
    :func:`demo_photos`."""
    split, vae_dir = split_and_fit_vae(work_dir, config, photos)
    return LearningCheckResult(tuple(run_seed(split, work_dir, vae_dir, config, seed) for seed in config.seeds))


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=LearningCheckConfig.steps)
    parser.add_argument("--seeds", type=int, nargs="+", default=list(LearningCheckConfig().seeds))
    parser.add_argument("--learning-rate", type=float, default=LearningCheckConfig.learning_rate)
    parser.add_argument("--vae-fit-steps", type=int, default=LearningCheckConfig.vae_fit_steps)
    parser.add_argument("--vae-seed", type=int, default=LearningCheckConfig.vae_seed, help="seed of the VAE stand-in")
    parser.add_argument(
        "--canny", type=int, nargs=2, metavar=("LOW", "HIGH"), help="Canny hysteresis thresholds of the edge maps",
        default=[LearningCheckConfig.canny_low, LearningCheckConfig.canny_high],
    )
    parser.add_argument("--threads", type=int, default=None, help="torch intra-op threads (default: torch's)")
    args = parser.parse_args(argv)
    if args.threads:
        torch.set_num_threads(args.threads)
    config = LearningCheckConfig(
        seeds=tuple(args.seeds), steps=args.steps, learning_rate=args.learning_rate, vae_fit_steps=args.vae_fit_steps,
        vae_seed=args.vae_seed, canny_low=args.canny[0], canny_high=args.canny[1],
    )
    with tempfile.TemporaryDirectory() as work_dir:
        result = run_learning_check(Path(work_dir), config)
    for o in result.outcomes:
        print(
            f"seed {o.seed}: held-out loss edges {o.edges_loss:.5f}  LR-only {o.lr_only_loss:.5f}  "
            f"no-LR {o.no_lr_loss:.5f}  oracle {o.oracle_loss:.5f}"
        )
    print(
        f"mean: edges {result.mean_edges_loss:.5f}  LR-only {result.mean_lr_only_loss:.5f}  "
        f"no-LR {result.mean_no_lr_loss:.5f}  edges help: {result.edges_help}  LR helps: {result.lr_helps}  "
        f"oracle gain {result.oracle_gain:.5f}"
    )


if __name__ == "__main__":
    main()
