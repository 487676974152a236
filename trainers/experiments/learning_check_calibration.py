"""Calibrating the learning check's random tiny models as stand-ins for pretrained ones.

The VAE is fitted to reconstruct training crops (its latents must hold the image), once per check
and shared by every seed; the VQ codebook is redrawn at the scale of the VQ encoder's outputs (so
edge tokens are not near invisible next to the MMLC's embeddings). See ``trainers.experiments.learning_check``.
"""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import numpy as np
import torch
from diffusers import AutoencoderKL, VQModel

from featurestore.modality import Modality
from pipelines.modality_codes import maps_to_vq_input, render_modality_map
from trainers.experiments.learning_check_config import LearningCheckConfig
from trainers.models.autoencoder_fitting import AutoencoderFitConfig, fit_autoencoder
from trainers.models.sr_pipeline import MMSRPipeline, build_tiny_pipeline


def fit_vae(vae: AutoencoderKL, hr: torch.Tensor, config: LearningCheckConfig, seed: int) -> None:
    """Fit ``vae`` (in place) to reconstruct the (N, 3, S, S) crops ``hr`` with the check's fit settings
    (``trainers.models.autoencoder_fitting``: MSE + 1e-6 KL, Adam, then ``scaling_factor`` = 1 / std)."""
    fit = AutoencoderFitConfig(
        steps=config.vae_fit_steps, batch_size=config.vae_fit_batch_size, learning_rate=config.vae_fit_learning_rate
    )
    fit_autoencoder(vae, hr, fit, torch.Generator().manual_seed(seed))


@torch.no_grad()
def rescale_codebook(vq: VQModel, edges: np.ndarray, seed: int) -> None:
    """Redraw the codebook (in place) as N(0, s^2), s = std of the VQ encoder's outputs on ``edges``."""
    rendered = [render_modality_map(edge_map, Modality.EDGES) for edge_map in edges]
    scale = vq.encode(maps_to_vq_input(rendered).to(vq.device)).latents.std()
    weight = vq.quantize.embedding.weight
    generator = torch.Generator().manual_seed(seed)
    weight.copy_(torch.randn(weight.shape, generator=generator).to(weight.device) * scale)


def fitted_vae(work_dir: Path, hr: torch.Tensor, config: LearningCheckConfig) -> Path:
    """The VAE stand-in: a random ``config.preset`` VAE (seeded ``config.vae_seed``) fitted on the
    (N, 3, S, S) training crops ``hr``, saved under ``work_dir``.

    Fitted once per check and shared by every seed, as one pretrained VAE would be.
    """
    random_dir = build_tiny_pipeline(work_dir / "random-vae", preset=config.preset, seed=config.vae_seed, lr_conditioning="pixel")
    vae = MMSRPipeline.from_pretrained(random_dir).vae
    fit_vae(vae, hr, config, config.vae_seed)
    vae.save_pretrained(work_dir / "vae-stand-in", safe_serialization=True)
    return work_dir / "vae-stand-in"


def calibrated_base(
    work_dir: Path, edges: np.ndarray, vae_dir: Path, config: LearningCheckConfig, seed: int
) -> Path:
    """A random ``config.preset`` pipeline (seeded init) with the fitted VAE of ``vae_dir`` and its
    codebook rescaled to the (N, S, S) training edge maps ``edges``, saved under ``work_dir``; every
    arm loads it through ``MMSRPipeline.from_pretrained``."""
    random_dir = build_tiny_pipeline(
        work_dir / f"random-seed{seed}", preset=config.preset, seed=seed, lr_conditioning=config.lr_conditioning
    )
    pipeline = replace(MMSRPipeline.from_pretrained(random_dir), vae=AutoencoderKL.from_pretrained(vae_dir))
    rescale_codebook(pipeline.vq, edges[:64], seed)
    return pipeline.save_pretrained(work_dir / f"calibrated-seed{seed}")
