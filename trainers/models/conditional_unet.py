"""The denoising UNet (Stable Diffusion 2 shape) with the LR image concatenated to its input, and the VAE.

InstructPix2Pix-style conditioning: the LR image, resized to the latent's H x W, is concatenated
to the noisy latent along channels, so ``in_channels = latent_channels + lr_channels``.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from diffusers import AutoencoderKL, UNet2DConditionModel
from torch import nn

from trainers.models.presets import ModelPreset, ModelSizes, model_sizes


def build_conditional_unet(
    preset: ModelPreset | ModelSizes, latent_channels: int, lr_channels: int = 3
) -> UNet2DConditionModel:
    """A randomly initialised UNet2DConditionModel of the preset's size.

    Input (B, latent_channels + lr_channels, h, w), output (B, latent_channels, h, w) epsilon;
    cross-attends to (B, N, cross_attention_dim). sd2 = the SD2 UNet (linear projections).
    """
    sizes = model_sizes(preset).unet
    blocks = len(sizes.block_out_channels)
    return UNet2DConditionModel(
        sample_size=sizes.sample_size,
        in_channels=latent_channels + lr_channels,
        out_channels=latent_channels,
        down_block_types=("CrossAttnDownBlock2D",) * (blocks - 1) + ("DownBlock2D",),
        up_block_types=("UpBlock2D",) + ("CrossAttnUpBlock2D",) * (blocks - 1),
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


def build_vae(preset: ModelPreset | ModelSizes) -> AutoencoderKL:
    """A randomly initialised AutoencoderKL of the preset's size (sd2: the SD VAE, f8, 4 channels)."""
    sizes = model_sizes(preset).vae
    blocks = len(sizes.block_out_channels)
    return AutoencoderKL(
        in_channels=3,
        out_channels=3,
        down_block_types=("DownEncoderBlock2D",) * blocks,
        up_block_types=("UpDecoderBlock2D",) * blocks,
        block_out_channels=sizes.block_out_channels,
        layers_per_block=sizes.layers_per_block,
        latent_channels=sizes.latent_channels,
        norm_num_groups=sizes.norm_num_groups,
        sample_size=model_sizes(preset).unet.sample_size * sizes.scale_factor,
    )


def vae_scale_factor(vae: AutoencoderKL) -> int:
    """Pixels per latent pixel (8 for the SD VAE)."""
    return 2 ** (len(vae.config.block_out_channels) - 1)


def resize_lr(lr: torch.Tensor, size: tuple[int, int]) -> torch.Tensor:
    """(B, 3, h, w) LR in [-1, 1] -> (B, 3, H, W) at the latent's size (bicubic, antialiased)."""
    return F.interpolate(lr, size=size, mode="bicubic", align_corners=False, antialias=True).clamp(-1.0, 1.0)


def unet_input(noisy_latents: torch.Tensor, lr: torch.Tensor) -> torch.Tensor:
    """Concatenate the noisy latent (B, C, H, W) and the LR resized to (H, W): (B, C + 3, H, W)."""
    lr_resized = resize_lr(lr.to(noisy_latents.dtype), tuple(noisy_latents.shape[-2:]))
    return torch.cat([noisy_latents, lr_resized], dim=1)
