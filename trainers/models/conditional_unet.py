"""The denoising UNet (Stable Diffusion 2 shape) with the LR concatenated to its input.

InstructPix2Pix-style conditioning: the LR's condition channels are concatenated to the noisy
latent, so ``in_channels = latent_channels + lr_channels``. Two variants (``LrConditioning``):

- ``latent`` (the paper's, default): the autoencoder's latent of the LR bicubically upsampled to
  the HR size, ``latent_channels`` channels in the same space as the denoised latent;
- ``pixel`` (an ablation): the LR's 3 RGB channels resized to the latent's H x W.
"""

from __future__ import annotations

from typing import Literal

import torch
import torch.nn.functional as F
from diffusers import UNet2DConditionModel
from torch import nn

from trainers.models import autoencoder
from trainers.models.autoencoder import Autoencoder
from trainers.models.presets import ModelPreset, ModelSizes, model_sizes

LrConditioning = Literal["latent", "pixel"]


def build_conditional_unet(
    preset: ModelPreset | ModelSizes, latent_channels: int, lr_channels: int = 3
) -> UNet2DConditionModel:
    """A randomly initialised UNet2DConditionModel of the preset's size.

    Input (B, latent_channels + lr_channels, h, w), output (B, latent_channels, h, w) epsilon;
    cross-attends to (B, N, cross_attention_dim). sd2 = the SD2 UNet (linear projections).
    """
    sizes = model_sizes(preset).unet
    blocks = len(sizes.block_out_channels)
    attends = sizes.attention_levels or (True,) * (blocks - 1) + (False,)
    return UNet2DConditionModel(
        sample_size=sizes.sample_size,
        in_channels=latent_channels + lr_channels,
        out_channels=latent_channels,
        down_block_types=tuple("CrossAttnDownBlock2D" if a else "DownBlock2D" for a in attends),
        up_block_types=tuple("CrossAttnUpBlock2D" if a else "UpBlock2D" for a in reversed(attends)),
        block_out_channels=sizes.block_out_channels,
        layers_per_block=sizes.layers_per_block,
        attention_head_dim=sizes.attention_head_dim,
        cross_attention_dim=sizes.cross_attention_dim,
        use_linear_projection=True,
        norm_num_groups=sizes.norm_num_groups,
    )


def expand_input_channels(unet: UNet2DConditionModel, extra_channels: int) -> UNet2DConditionModel:
    """Give ``unet`` ``extra_channels`` more input channels, in place, and return it.

    The new ``conv_in`` copies the old weights and bias; the weights of the extra channels are
    zero, so with any input there the outputs are unchanged (for starting from a pretrained SD2 UNet).
    """
    if extra_channels < 1:
        raise ValueError(f"extra_channels must be >= 1, got {extra_channels}")
    old = unet.conv_in
    new = nn.Conv2d(
        old.in_channels + extra_channels, old.out_channels, old.kernel_size, old.stride, old.padding,
        device=old.weight.device, dtype=old.weight.dtype,
    )
    with torch.no_grad():
        new.weight.zero_()
        new.weight[:, : old.in_channels] = old.weight
        assert old.bias is not None and new.bias is not None
        new.bias.copy_(old.bias)
    unet.conv_in = new
    unet.register_to_config(in_channels=old.in_channels + extra_channels)
    return unet


def resize_lr(lr: torch.Tensor, size: tuple[int, int]) -> torch.Tensor:
    """(B, 3, h, w) LR in [-1, 1] -> (B, 3, H, W) at the latent's size (bicubic, antialiased)."""
    return F.interpolate(lr, size=size, mode="bicubic", align_corners=False, antialias=True).clamp(-1.0, 1.0)


def lr_channels(mode: LrConditioning, latent_channels: int) -> int:
    """Condition channels the UNet takes besides the noisy latent."""
    return latent_channels if mode == "latent" else 3


@torch.no_grad()
def lr_condition(lr: torch.Tensor, latent_hw: tuple[int, int], mode: LrConditioning, vae: Autoencoder) -> torch.Tensor:
    """(B, 3, h, w) LR in [-1, 1] -> (B, C, H, W) condition channels at the latent's size ``latent_hw``.

    ``latent``: the LR bicubically upsampled to the HR size (``latent_hw`` x the autoencoder's
    factor), encoded (deterministically: the posterior mean of an AutoencoderKL) and scaled;
    ``pixel``: the LR resized to ``latent_hw`` (``resize_lr``)."""
    if mode == "pixel":
        return resize_lr(lr, latent_hw)
    factor = autoencoder.scale_factor(vae)
    size = (latent_hw[0] * factor, latent_hw[1] * factor)
    upsampled = F.interpolate(lr.float(), size=size, mode="bicubic", align_corners=False).clamp(-1.0, 1.0)
    return autoencoder.encode(vae, upsampled)


def unet_input(noisy_latents: torch.Tensor, condition: torch.Tensor) -> torch.Tensor:
    """Concatenate the noisy latent (B, C, H, W) and the LR's condition channels (B, C_lr, H, W)."""
    return torch.cat([noisy_latents, condition.to(noisy_latents.dtype)], dim=1)
