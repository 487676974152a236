"""The MMSR training math as pure functions: the epsilon-prediction diffusion loss and what is trained.

Trained: the UNet and the MMLC. Frozen: the VAE, the VQ tokenizer and the CLIP text encoder (their
features are computed under ``no_grad``). ``unet``/``mmlc`` may be wrapped (DistributedDataParallel);
every randomness comes from the one ``generator`` passed in.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F
from diffusers import SchedulerMixin
from diffusers.utils.torch_utils import randn_tensor
from torch import nn

from trainers.models import autoencoder
from trainers.models.autoencoder import Autoencoder
from trainers.models.conditioning import ModalityTokens
from trainers.models.conditional_unet import LrConditioning, lr_condition, unet_input
from trainers.models.sr_pipeline import MMSRPipeline


@dataclass(frozen=True)
class DiffusionParts:
    """The modules one loss evaluation needs."""

    unet: nn.Module
    """UNet2DConditionModel, possibly DDP-wrapped (trained)."""
    mmlc: nn.Module
    """MultimodalLatentConnector, possibly DDP-wrapped (trained)."""
    vae: Autoencoder
    """Frozen."""
    noise_scheduler: SchedulerMixin
    """Gives ``add_noise`` and ``config.num_train_timesteps`` (the pipeline's DDIM scheduler will do)."""
    lr_conditioning: LrConditioning = "latent"
    """How the LR enters the UNet (``PipelineConfig.lr_conditioning`` of the pipeline)."""

    @classmethod
    def of(cls, pipeline: MMSRPipeline) -> DiffusionParts:
        return cls(
            unet=pipeline.unet, mmlc=pipeline.mmlc, vae=pipeline.vae, noise_scheduler=pipeline.scheduler,
            lr_conditioning=pipeline.config.lr_conditioning,
        )


def freeze_conditioning_models(pipeline: MMSRPipeline) -> list[nn.Parameter]:
    """Freeze VAE, VQ and text encoder (eval mode, no grad); return the UNet + MMLC parameters to train."""
    for frozen in (pipeline.vae, pipeline.vq, pipeline.text_encoder):
        frozen.eval().requires_grad_(False)
    trainable = [*pipeline.unet.parameters(), *pipeline.mmlc.parameters()]
    for parameter in trainable:
        parameter.requires_grad_(True)
    return trainable


@torch.no_grad()
def encode_latents(vae: Autoencoder, hr: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
    """(B, 3, H, W) HR in [-1, 1] -> (B, C, H / f, W / f) scaled latents (a posterior sample for an AutoencoderKL)."""
    return autoencoder.encode(vae, hr, generator)


def sample_timesteps(
    batch_size: int, num_train_timesteps: int, generator: torch.Generator, device: torch.device
) -> torch.Tensor:
    """(B,) int64 timesteps uniform in [0, num_train_timesteps)."""
    steps = torch.randint(0, num_train_timesteps, (batch_size,), generator=generator, device=generator.device)
    return steps.to(device)


def diffusion_loss(
    parts: DiffusionParts,
    hr: torch.Tensor,
    lr: torch.Tensor,
    tokens: ModalityTokens,
    generator: torch.Generator,
    temperatures: dict[str, float] | None = None,
    dropout_p: float | None = None,
) -> torch.Tensor:
    """Scalar MSE between the UNet's prediction and its target for the noised HR latent.

    The target follows the noise scheduler's ``prediction_type`` (``prediction_target``): the noise
    (``epsilon``, SD2-base), the velocity (``v_prediction``, SD2-768) or the clean latent (``sample``).

    hr (B, 3, H, W) and lr (B, 3, H / scale, W / scale) in [-1, 1]; ``tokens`` of B rows. Modality
    dropout of the MMLC is applied when it is in training mode (drawn from ``generator``), with
    probability ``dropout_p`` per modality (default: the MMLC's configured rate).
    """
    latents = encode_latents(parts.vae, hr, generator)
    noise = randn_tensor(latents.shape, generator=generator, device=latents.device, dtype=latents.dtype)
    timesteps = sample_timesteps(
        latents.shape[0], parts.noise_scheduler.config.num_train_timesteps, generator, latents.device
    )
    noisy = parts.noise_scheduler.add_noise(latents, noise, timesteps)
    context = parts.mmlc(
        tokens.to(device=latents.device), timesteps=timesteps, temperatures=temperatures, dropout_generator=generator,
        dropout_p=dropout_p,
    )
    condition = lr_condition(lr.to(latents.device), tuple(latents.shape[-2:]), parts.lr_conditioning, parts.vae)
    sample = unet_input(noisy, condition)
    prediction = parts.unet(sample, timesteps, encoder_hidden_states=context, return_dict=False)[0]
    target = prediction_target(parts.noise_scheduler, latents, noise, timesteps)
    return F.mse_loss(prediction.float(), target.float())


def prediction_target(
    scheduler: SchedulerMixin, latents: torch.Tensor, noise: torch.Tensor, timesteps: torch.Tensor
) -> torch.Tensor:
    """What the UNet is trained to predict for ``latents`` noised with ``noise`` at ``timesteps``,
    per ``scheduler.config.prediction_type`` (the sampler reads the same field)."""
    kind = scheduler.config.prediction_type
    if kind == "epsilon":
        return noise
    if kind == "v_prediction":
        return scheduler.get_velocity(latents, noise, timesteps)
    if kind == "sample":
        return latents
    raise ValueError(f"scheduler prediction_type must be epsilon, v_prediction or sample, got {kind!r}")
