"""Model size presets: ``tiny`` (CPU tests), ``quickstart`` (tiny with a fast-fitting autoencoder)
and ``sd2`` (the paper's sizes).

Every builder in ``trainers.models`` takes a preset name or a ``ModelSizes``; the sizes of one
component can be changed with ``dataclasses.replace`` (e.g. ``num_latents``) before building.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Literal

from featurestore.modality import VQ_CODEBOOK_SIZE, VQ_GRID, VQ_INPUT_SIZE

ModelPreset = Literal["tiny", "quickstart", "sd2"]


@dataclass(frozen=True)
class UNetSizes:
    block_out_channels: tuple[int, ...]
    layers_per_block: int
    attention_head_dim: tuple[int, ...]
    """Per block; SD2 calls it attention_head_dim but it is the number of heads (5, 10, 20, 20)."""
    cross_attention_dim: int
    sample_size: int
    """Latent side the UNet is trained on; also the inference tile side in latent pixels."""
    norm_num_groups: int = 32
    attention_levels: tuple[bool, ...] | None = None
    """Per level (highest resolution first): whether its blocks have (self- and cross-) attention.
    None = the SD2 layout, every level but the lowest; SDXL drops the highest-resolution level
    instead, where attention over h * w tokens costs the most. The mid block always attends."""

    def __post_init__(self) -> None:
        if len(self.attention_head_dim) != len(self.block_out_channels):
            raise ValueError("unet.attention_head_dim needs one entry per unet.block_out_channels entry")
        if self.attention_levels is not None and len(self.attention_levels) != len(self.block_out_channels):
            raise ValueError("unet.attention_levels needs one entry per unet.block_out_channels entry")
        if any(c % self.norm_num_groups for c in self.block_out_channels):
            raise ValueError("unet.block_out_channels must be multiples of unet.norm_num_groups")


@dataclass(frozen=True)
class AutoencoderSizes:
    block_out_channels: tuple[int, ...]
    layers_per_block: int
    latent_channels: int
    norm_num_groups: int = 32
    kind: Literal["kl", "tiny"] = "kl"
    """``kl``: diffusers' AutoencoderKL (the SD VAE); ``tiny``: AutoencoderTiny (TAESD architecture,
    no normalisation layers, fitted from scratch in a minute on a CPU)."""

    def __post_init__(self) -> None:
        if self.kind == "kl" and any(c % self.norm_num_groups for c in self.block_out_channels):
            raise ValueError("vae.block_out_channels must be multiples of vae.norm_num_groups")

    @property
    def scale_factor(self) -> int:
        return 2 ** (len(self.block_out_channels) - 1)


@dataclass(frozen=True)
class VQSizes:
    block_out_channels: tuple[int, ...]
    """Five entries: four 2x downsamplings map a 256x256 map to the 16x16 code grid."""
    layers_per_block: int
    latent_channels: int
    embed_dim: int
    """Dimension C of a codebook vector (the paper's VQGAN: 256)."""
    norm_num_groups: int
    num_embeddings: int = VQ_CODEBOOK_SIZE

    def __post_init__(self) -> None:
        if VQ_INPUT_SIZE // 2 ** (len(self.block_out_channels) - 1) != VQ_GRID:
            raise ValueError(f"vq.block_out_channels must have 5 entries (256 -> {VQ_GRID} grid)")
        if any(c % self.norm_num_groups for c in self.block_out_channels):
            raise ValueError("vq.block_out_channels must be multiples of vq.norm_num_groups")


@dataclass(frozen=True)
class TextSizes:
    hidden_size: int
    num_layers: int
    num_heads: int
    intermediate_size: int
    projection_dim: int

    def __post_init__(self) -> None:
        if self.hidden_size % self.num_heads:
            raise ValueError("text.hidden_size must be a multiple of text.num_heads")


@dataclass(frozen=True)
class MMLCSizes:
    width: int
    num_latents: int
    num_heads: int
    num_cross_blocks: int
    num_self_blocks: int

    def __post_init__(self) -> None:
        if self.width % self.num_heads:
            raise ValueError("mmlc.width must be a multiple of mmlc.num_heads")
        if self.num_latents < 1 or self.num_cross_blocks < 1 or self.num_self_blocks < 0:
            raise ValueError("mmlc.num_latents and mmlc.num_cross_blocks must be >= 1, num_self_blocks >= 0")


@dataclass(frozen=True)
class ModelSizes:
    unet: UNetSizes
    vae: AutoencoderSizes
    vq: VQSizes
    text: TextSizes
    mmlc: MMLCSizes
    scale: int = 4
    """Super-resolution factor: HR side = scale * LR side."""

    def __post_init__(self) -> None:
        if self.vq.embed_dim > self.text.hidden_size:
            raise ValueError("vq.embed_dim must be <= text.hidden_size (VQ vectors are zero-padded to it)")


TINY = ModelSizes(
    unet=UNetSizes(
        block_out_channels=(32, 64), layers_per_block=1, attention_head_dim=(2, 4),
        cross_attention_dim=32, sample_size=32,
    ),
    vae=AutoencoderSizes(block_out_channels=(32, 64, 64), layers_per_block=1, latent_channels=4),
    vq=VQSizes(
        block_out_channels=(8, 16, 16, 32, 32), layers_per_block=1, latent_channels=8, embed_dim=8,
        norm_num_groups=8,
    ),
    text=TextSizes(hidden_size=32, num_layers=2, num_heads=2, intermediate_size=64, projection_dim=32),
    mmlc=MMLCSizes(width=32, num_latents=16, num_heads=2, num_cross_blocks=1, num_self_blocks=1),
)

SD2 = ModelSizes(
    unet=UNetSizes(
        block_out_channels=(320, 640, 1280, 1280), layers_per_block=2, attention_head_dim=(5, 10, 20, 20),
        cross_attention_dim=1024, sample_size=64,
    ),
    vae=AutoencoderSizes(block_out_channels=(128, 256, 512, 512), layers_per_block=2, latent_channels=4),
    vq=VQSizes(
        block_out_channels=(128, 128, 256, 256, 512), layers_per_block=2, latent_channels=256, embed_dim=256,
        norm_num_groups=32,
    ),
    text=TextSizes(hidden_size=1024, num_layers=23, num_heads=16, intermediate_size=4096, projection_dim=512),
    mmlc=MMLCSizes(width=1024, num_latents=128, num_heads=16, num_cross_blocks=1, num_self_blocks=4),
)

QUICKSTART = replace(
    TINY,
    unet=replace(TINY.unet, norm_num_groups=8, attention_levels=(False, True)),
    vae=AutoencoderSizes(block_out_channels=(32, 32, 32), layers_per_block=1, latent_channels=4, kind="tiny"),
)
"""The tiny sizes with an AutoencoderTiny (f4): the quickstart fits it to the demo photos as its
stand-in for a pretrained VAE (an AutoencoderKL of this size reconstructs worse than bicubic
after the same minute of fitting). The UNet uses 8 norm groups: with 32 channels and 32 groups
every GroupNorm is an InstanceNorm, which removes each sample's mean brightness, and a model
that predicts the clean latent then cannot render a photo darker or brighter than the training
average (docs/training.md, "The quickstart's tiny models", has the numbers). It attends at 16 x 16 latent
pixels and in the mid block, not at 32 x 32 (the SDXL layout): attention over 1024 tokens was a
quarter of a CPU training step."""

PRESETS: dict[str, ModelSizes] = {"tiny": TINY, "quickstart": QUICKSTART, "sd2": SD2}


def model_sizes(preset: ModelPreset | ModelSizes) -> ModelSizes:
    """The sizes of a preset (a ``ModelSizes`` passes through unchanged)."""
    if isinstance(preset, ModelSizes):
        return preset
    if preset not in PRESETS:
        raise ValueError(f"model preset must be one of {sorted(PRESETS)}, got {preset!r}")
    return PRESETS[preset]
