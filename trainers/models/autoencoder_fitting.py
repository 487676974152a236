"""Fit an autoencoder from scratch to reconstruct a set of images: a stand-in for a pretrained VAE.

Tiny presets have no pretrained VAE to load, and a random one decodes colour noise whatever the
UNet does. Fitting one to images of the data (MSE, plus a 1e-6 KL term for an AutoencoderKL) makes
its latents hold the image, as a pretrained VAE's do. Then ``scaling_factor`` is set to 1 / std of
the latents (the SD recipe), so the diffusion sees unit-variance latents.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F
from diffusers import AutoencoderTiny

from trainers.models.autoencoder import Autoencoder


@dataclass(frozen=True)
class AutoencoderFitConfig:
    steps: int = 600
    batch_size: int = 16
    learning_rate: float = 1e-3
    kl_weight: float = 1e-6
    """Weight of the KL term (AutoencoderKL only)."""

    def __post_init__(self) -> None:
        for name in ("steps", "batch_size"):
            if getattr(self, name) < 1:
                raise ValueError(f"autoencoder fit {name} must be >= 1, got {getattr(self, name)}")
        if self.learning_rate <= 0 or self.kl_weight < 0:
            raise ValueError("autoencoder fit learning_rate must be > 0 and kl_weight >= 0")


def reconstruction_loss(
    vae: Autoencoder, batch: torch.Tensor, kl_weight: float, generator: torch.Generator
) -> torch.Tensor:
    """MSE of the reconstruction of (B, 3, H, W) ``batch`` in [-1, 1] (+ ``kl_weight`` KL for AutoencoderKL)."""
    if isinstance(vae, AutoencoderTiny):
        return F.mse_loss(vae.decode(vae.encode(batch).latents).sample, batch)
    posterior = vae.encode(batch).latent_dist
    reconstruction = vae.decode(posterior.sample(generator=generator)).sample
    return F.mse_loss(reconstruction, batch) + kl_weight * posterior.kl().mean()


@torch.no_grad()
def latent_std(vae: Autoencoder, images: torch.Tensor) -> torch.Tensor:
    """Standard deviation (a scalar tensor) of the unscaled latents of ``images`` (posterior means for AutoencoderKL)."""
    encoded = vae.encode(images.to(vae.device, vae.dtype))
    return (encoded.latents if isinstance(vae, AutoencoderTiny) else encoded.latent_dist.mean).std()


def fit_autoencoder(
    vae: Autoencoder, images: torch.Tensor, config: AutoencoderFitConfig, generator: torch.Generator
) -> None:
    """Fit ``vae`` in place to reconstruct (N, 3, H, W) ``images`` in [-1, 1] (Adam, random
    batches drawn from ``generator``); then freeze it and set its ``scaling_factor``."""
    vae.train().requires_grad_(True)
    optimizer = torch.optim.Adam(vae.parameters(), lr=config.learning_rate)
    for _ in range(config.steps):
        batch = images[torch.randperm(len(images), generator=generator)[: config.batch_size]]
        loss = reconstruction_loss(vae, batch.to(vae.device, vae.dtype), config.kl_weight, generator)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
    vae.eval().requires_grad_(False)
    vae.register_to_config(scaling_factor=float(1.0 / latent_std(vae, images)))
