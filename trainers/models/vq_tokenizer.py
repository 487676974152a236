"""VQ tokenizer of spatial modality maps: 256x256 RGB rendering -> 16x16 grid of codebook indices.

The model is a diffusers ``VQModel`` (VQGAN): four 2x downsamplings (f16) and a 1024-entry codebook.
Maps are first rendered to RGB (depth as grey, segmentation through a fixed palette, edges as
grey), so one tokenizer serves every spatial modality.

Rendering, encoding and decoding live in :mod:`pipelines.modality_codes` (preprocessing uses them too).
"""

from __future__ import annotations

from diffusers import VQModel

from featurestore.modality import VQ_INPUT_SIZE
from trainers.models.presets import ModelPreset, ModelSizes, model_sizes


def build_vq_tokenizer(preset: ModelPreset | ModelSizes) -> VQModel:
    """A randomly initialised VQModel of the preset's size (3 -> 3 channels, f16, 1024 codes)."""
    sizes = model_sizes(preset).vq
    blocks = len(sizes.block_out_channels)
    return VQModel(
        in_channels=3,
        out_channels=3,
        down_block_types=("DownEncoderBlock2D",) * blocks,
        up_block_types=("UpDecoderBlock2D",) * blocks,
        block_out_channels=sizes.block_out_channels,
        layers_per_block=sizes.layers_per_block,
        latent_channels=sizes.latent_channels,
        sample_size=VQ_INPUT_SIZE,
        num_vq_embeddings=sizes.num_embeddings,
        norm_num_groups=sizes.norm_num_groups,
        vq_embed_dim=sizes.embed_dim,
    )
