from __future__ import annotations

import dataclasses

import pytest
import torch

from trainers.models.autoencoder import build_autoencoder as build_vae
from trainers.models.conditional_unet import build_conditional_unet
from trainers.models.presets import SD2, TINY, MMLCSizes, VQSizes, model_sizes


def test_model_sizes_returns_presets_and_passes_sizes_through() -> None:
    assert model_sizes("tiny") is TINY
    assert model_sizes("sd2") is SD2
    custom = dataclasses.replace(TINY, mmlc=dataclasses.replace(TINY.mmlc, num_latents=8))
    assert model_sizes(custom).mmlc.num_latents == 8


def test_unknown_preset_is_rejected() -> None:
    with pytest.raises(ValueError, match="preset"):
        model_sizes("huge")  # type: ignore[arg-type]


def test_size_checks_name_the_field() -> None:
    with pytest.raises(ValueError, match="vq.block_out_channels"):
        VQSizes(block_out_channels=(8, 8, 8), layers_per_block=1, latent_channels=8, embed_dim=8, norm_num_groups=8)
    with pytest.raises(ValueError, match="mmlc.width"):
        MMLCSizes(width=30, num_latents=4, num_heads=4, num_cross_blocks=1, num_self_blocks=1)


def test_sd2_preset_has_the_stable_diffusion_2_unet_and_vae_sizes() -> None:
    with torch.device("meta"):
        unet = build_conditional_unet("sd2", latent_channels=4, lr_channels=0)
        vae = build_vae("sd2")
    assert sum(p.numel() for p in unet.parameters()) == 865_910_724  # SD2 UNet
    assert sum(p.numel() for p in vae.parameters()) == 83_653_863  # SD VAE
    assert unet.config.cross_attention_dim == 1024 and unet.config.use_linear_projection
    assert unet.config.down_block_types == ("CrossAttnDownBlock2D",) * 3 + ("DownBlock2D",)


def test_quickstart_unet_attends_below_the_highest_resolution_only() -> None:
    """The SDXL layout: no attention over the 32 x 32 latent; cross-attention at 16 x 16 and mid."""
    unet = build_conditional_unet("quickstart", latent_channels=4, lr_channels=4)
    assert unet.config.down_block_types == ("DownBlock2D", "CrossAttnDownBlock2D")
    assert unet.config.up_block_types == ("CrossAttnUpBlock2D", "UpBlock2D")
    assert unet.config.mid_block_type == "UNetMidBlock2DCrossAttn"
    with pytest.raises(ValueError, match="unet.attention_levels"):
        dataclasses.replace(TINY.unet, attention_levels=(True,))
