"""The pipeline's image autoencoder behind one interface: images in [-1, 1] <-> scaled latents.

Two diffusers classes, chosen by the preset (``AutoencoderSizes.kind``) and, when loading, by
the saved config's ``_class_name``:

- ``AutoencoderKL`` (``"kl"``): the Stable Diffusion VAE, what the sd2 preset and a pretrained
  SD2 checkpoint use;
- ``AutoencoderTiny`` (``"tiny"``): the TAESD architecture (plain convolutions, no normalisation
  layers), which a CPU fits from scratch in about a minute where an AutoencoderKL needs thousands
  of steps; the quickstart's stand-in for a pretrained VAE.

Latents are scaled by ``config.scaling_factor`` (unit variance for the diffusion), as in SD.
"""

from __future__ import annotations

from pathlib import Path

import torch
from diffusers import AutoencoderKL, AutoencoderTiny
from diffusers.utils.torch_utils import randn_tensor

from trainers.models.presets import ModelPreset, ModelSizes, model_sizes

Autoencoder = AutoencoderKL | AutoencoderTiny
AUTOENCODER_CLASSES: dict[str, type[AutoencoderKL] | type[AutoencoderTiny]] = {
    "AutoencoderKL": AutoencoderKL,
    "AutoencoderTiny": AutoencoderTiny,
}
"""The autoencoder classes a pipeline may name in ``vae/config.json`` (nothing else is loaded)."""


def build_autoencoder(preset: ModelPreset | ModelSizes) -> Autoencoder:
    """A randomly initialised autoencoder of the preset's size and kind (sd2: the SD VAE, f8, 4 channels)."""
    sizes = model_sizes(preset)
    vae = sizes.vae
    blocks = len(vae.block_out_channels)
    if vae.kind == "tiny":
        return AutoencoderTiny(
            encoder_block_out_channels=vae.block_out_channels, decoder_block_out_channels=vae.block_out_channels,
            num_encoder_blocks=(vae.layers_per_block,) * blocks, num_decoder_blocks=(vae.layers_per_block,) * blocks,
            latent_channels=vae.latent_channels,
        )
    return AutoencoderKL(
        in_channels=3,
        out_channels=3,
        down_block_types=("DownEncoderBlock2D",) * blocks,
        up_block_types=("UpDecoderBlock2D",) * blocks,
        block_out_channels=vae.block_out_channels,
        layers_per_block=vae.layers_per_block,
        latent_channels=vae.latent_channels,
        norm_num_groups=vae.norm_num_groups,
        sample_size=sizes.unet.sample_size * vae.scale_factor,
    )


def load_autoencoder(
    source: str | Path, subfolder: str | None = "vae", revision: str | None = None
) -> Autoencoder:
    """The autoencoder saved under ``source``/``subfolder`` (a local folder or a hub id), safetensors
    only; ValueError when its config names a class that is not in ``AUTOENCODER_CLASSES``."""
    config = AutoencoderKL.load_config(str(source), subfolder=subfolder, revision=revision)
    name = config.get("_class_name")
    if name not in AUTOENCODER_CLASSES:
        raise ValueError(f"vae class {name!r} is not one of {sorted(AUTOENCODER_CLASSES)}")
    return AUTOENCODER_CLASSES[name].from_pretrained(
        str(source), subfolder=subfolder, revision=revision, use_safetensors=True
    )


def encode(vae: Autoencoder, images: torch.Tensor, generator: torch.Generator | None = None) -> torch.Tensor:
    """(B, 3, H, W) in [-1, 1] -> (B, C, H / f, W / f) scaled latents.

    AutoencoderKL: a posterior sample drawn from ``generator`` (its mean when None);
    AutoencoderTiny: deterministic."""
    mean, std = encode_moments(vae, images)
    return mean if generator is None else draw_posterior(mean, std, generator)


def encode_moments(vae: Autoencoder, images: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor | None]:
    """(B, 3, H, W) in [-1, 1] -> the scaled posterior (mean, std) of an AutoencoderKL, or
    (latents, None) for the deterministic AutoencoderTiny."""
    pixels = images.to(device=vae.device, dtype=vae.dtype)
    scaling = vae.config.scaling_factor
    if isinstance(vae, AutoencoderTiny):
        return vae.encode(pixels).latents * scaling, None
    posterior = vae.encode(pixels).latent_dist
    return posterior.mean * scaling, posterior.std * scaling


def draw_posterior(mean: torch.Tensor, std: torch.Tensor | None, generator: torch.Generator) -> torch.Tensor:
    """``mean + std * N(0, 1)`` drawn from ``generator`` (diffusers' ``DiagonalGaussianDistribution.sample``
    draw); ``mean`` itself when ``std`` is None (a deterministic autoencoder)."""
    if std is None:
        return mean
    return mean + std * randn_tensor(mean.shape, generator=generator, device=mean.device, dtype=mean.dtype)


def decode(vae: Autoencoder, latents: torch.Tensor) -> torch.Tensor:
    """(B, C, h, w) scaled latents -> (B, 3, h * f, w * f) images, clamped to [-1, 1]."""
    return vae.decode(latents / vae.config.scaling_factor).sample.clamp(-1.0, 1.0)


def scale_factor(vae: Autoencoder) -> int:
    """Pixels per latent pixel (8 for the SD VAE)."""
    if isinstance(vae, AutoencoderTiny):
        return 2 ** (len(vae.config.encoder_block_out_channels) - 1)
    return 2 ** (len(vae.config.block_out_channels) - 1)


def latent_channels(vae: Autoencoder) -> int:
    return int(vae.config.latent_channels)


TINY_TILE_CHANNELS = (4, 3)
"""(latent, image) channels diffusers' tiled AutoencoderTiny writes whatever the model has."""


def set_tiling(vae: Autoencoder, tile_pixels: int | None) -> None:
    """Encode and decode images larger than ``tile_pixels`` (a multiple of the scale factor) in
    overlapping, blended tiles (diffusers' tiled VAE: bounded memory at any image size); None turns
    tiling off (AutoencoderTiny tiles every image while it is on: turn it on only for larger ones).

    diffusers' tiled AutoencoderTiny assumes TAESD's shape: its scale factor is taken from the image
    channels (2 ** 3 = 8) and it writes 4 latent and 3 image channels. The scale factor is set
    to this model's (an f4 autoencoder tiled as f8 failed on every image over one tile); an
    AutoencoderTiny of other channel counts is not tiled (whole images: correct, more memory)."""
    if tile_pixels is None:
        vae.disable_tiling()
        return
    factor = scale_factor(vae)
    if tile_pixels < factor or tile_pixels % factor:
        raise ValueError(f"vae tile size must be a positive multiple of {factor} pixels, got {tile_pixels}")
    if isinstance(vae, AutoencoderTiny):
        channels = (latent_channels(vae), int(vae.config.out_channels))
        if channels != TINY_TILE_CHANNELS:
            vae.disable_tiling()
            return
        # Its blend ramp spans tile_pixels / 8 pixels, i.e. tile_pixels / (8 * factor) latent pixels: at least 2.
        if tile_pixels < 16 * factor:
            raise ValueError(f"vae tile size of an AutoencoderTiny must be >= {16 * factor} pixels, got {tile_pixels}")
        vae.spatial_scale_factor = factor
    vae.enable_tiling()
    vae.tile_sample_min_size = tile_pixels
    vae.tile_latent_min_size = tile_pixels // factor
