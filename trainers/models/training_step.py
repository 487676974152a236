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
from trainers.models.conditional_unet import LrConditioning, lr_condition, unet_input
from trainers.models.conditioning import ModalityTokens
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


def draw_timesteps(
    batch_size: int, num_train_timesteps: int, generator: torch.Generator, device: torch.device
) -> torch.Tensor:
    """(B,) int64 timesteps uniform in [0, num_train_timesteps)."""
    steps = torch.randint(0, num_train_timesteps, (batch_size,), generator=generator, device=generator.device)
    return steps.to(device)


@dataclass(frozen=True)
class EncodedPair:
    """What the frozen autoencoder makes of a batch of HR/LR pairs: all a loss needs from the images.

    Row-indexable, so a training loop may keep rows it has seen (``trainers.data.encoding_cache``): the
    encodings of a fixed crop do not change while the autoencoder is frozen."""

    latent_mean: torch.Tensor
    """(B, C, h, w) scaled HR latents (AutoencoderKL: the posterior mean)."""
    latent_std: torch.Tensor | None
    """(B, C, h, w) scaled posterior standard deviation (AutoencoderKL); None: deterministic (AutoencoderTiny)."""
    condition: torch.Tensor
    """(B, C_lr, h, w) LR condition channels (``lr_condition``)."""

    def rows(self, index: torch.Tensor | slice) -> EncodedPair:
        std = None if self.latent_std is None else self.latent_std[index]
        return EncodedPair(self.latent_mean[index], std, self.condition[index])

    @classmethod
    def stack(cls, parts: list[EncodedPair]) -> EncodedPair:
        std = None if parts[0].latent_std is None else torch.cat([p.latent_std for p in parts])  # type: ignore[misc]
        return cls(torch.cat([p.latent_mean for p in parts]), std, torch.cat([p.condition for p in parts]))

    def with_condition(self, condition: torch.Tensor) -> EncodedPair:
        """These HR encodings with ``condition`` (B, C_lr, h, w) as the LR's (a fresh LR draw)."""
        return EncodedPair(self.latent_mean, self.latent_std, condition)

    def draw_latents(self, generator: torch.Generator) -> torch.Tensor:
        """HR latents: a posterior sample drawn from ``generator``, or the deterministic latents."""
        return autoencoder.draw_posterior(self.latent_mean, self.latent_std, generator)


@torch.no_grad()
def encode_pair(parts: DiffusionParts, hr: torch.Tensor, lr: torch.Tensor) -> EncodedPair:
    """hr (B, 3, H, W) and lr (B, 3, H / scale, W / scale) in [-1, 1] -> their ``EncodedPair``."""
    mean, std = autoencoder.encode_moments(parts.vae, hr)
    condition = lr_condition(lr.to(mean.device), tuple(mean.shape[-2:]), parts.lr_conditioning, parts.vae)
    return EncodedPair(mean, std, condition)


@torch.no_grad()
def encode_hr(parts: DiffusionParts, hr: torch.Tensor) -> EncodedPair:
    """hr (B, 3, H, W) in [-1, 1] -> its HR encodings, with an empty (B, 0, 1, 1) condition to be
    filled by :meth:`EncodedPair.with_condition` (:func:`encode_lr`)."""
    mean, std = autoencoder.encode_moments(parts.vae, hr)
    return EncodedPair(mean, std, mean.new_zeros((len(mean), 0, 1, 1)))


@torch.no_grad()
def encode_lr(parts: DiffusionParts, lr: torch.Tensor, latent_hw: tuple[int, int]) -> torch.Tensor:
    """lr (B, 3, H / scale, W / scale) in [-1, 1] -> its (B, C_lr, h, w) condition at ``latent_hw``."""
    return lr_condition(lr, latent_hw, parts.lr_conditioning, parts.vae)


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

    hr (B, 3, H, W) and lr (B, 3, H / scale, W / scale) in [-1, 1]; the rest as
    :func:`encoded_diffusion_loss`, which this is after :func:`encode_pair`.
    """
    return encoded_diffusion_loss(parts, encode_pair(parts, hr, lr), tokens, generator, temperatures, dropout_p)


def encoded_diffusion_loss(
    parts: DiffusionParts,
    encoded: EncodedPair,
    tokens: ModalityTokens,
    generator: torch.Generator,
    temperatures: dict[str, float] | None = None,
    dropout_p: float | None = None,
) -> torch.Tensor:
    """Scalar MSE between the UNet's prediction and its target for the noised HR latent.

    The target follows the noise scheduler's ``prediction_type`` (``prediction_target``): the noise
    (``epsilon``, SD2-base), the velocity (``v_prediction``, SD2-768) or the clean latent (``sample``).

    ``tokens`` of B rows. Modality dropout of the MMLC is applied when it is in training mode (drawn
    from ``generator``), with probability ``dropout_p`` per modality (default: the MMLC's configured rate).
    """
    latents = encoded.draw_latents(generator)
    noise = randn_tensor(latents.shape, generator=generator, device=latents.device, dtype=latents.dtype)
    timesteps = draw_timesteps(
        latents.shape[0], parts.noise_scheduler.config.num_train_timesteps, generator, latents.device
    )
    noisy = parts.noise_scheduler.add_noise(latents, noise, timesteps)
    context = parts.mmlc(
        tokens.to(device=latents.device), timesteps=timesteps, temperatures=temperatures, dropout_generator=generator,
        dropout_p=dropout_p,
    )
    sample = unet_input(noisy, encoded.condition)
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
