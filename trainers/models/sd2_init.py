"""Start an MMSR pipeline from a pretrained Stable Diffusion 2 repository (the paper's initialisation).

VAE, UNet, CLIP text encoder, tokenizer and noise schedule come from the SD2 repo (e.g.
"stabilityai/stable-diffusion-2-1-base" or a local copy in the same layout); the UNet gets more
zero-initialised input channels for the LR (the VAE latent's 4 for ``latent`` conditioning, RGB's 3
for ``pixel``), so it starts as the pretrained UNet; the noise schedule keeps the repo's
``prediction_type`` (epsilon for -base, v for the 768 models), and training follows it; the VQ tokenizer is loaded (or built random
from the preset when none is given); the MMLC is new, sized by the preset and fitted to the
loaded models' widths.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import torch
from diffusers import AutoencoderKL, DDIMScheduler, UNet2DConditionModel, VQModel

from featurestore.modality import Modality
from trainers.models.conditional_unet import LrConditioning, expand_input_channels, lr_channels
from trainers.models.mmlc import TemperatureMode, build_mmlc
from trainers.models.presets import ModelPreset, ModelSizes, model_sizes
from trainers.models.sr_pipeline import MMSRPipeline, PipelineConfig
from trainers.models.text_encoder import load_text_encoder
from trainers.models.vq_tokenizer import build_vq_tokenizer


def load_or_build_vq(
    preset: ModelPreset | ModelSizes, vq_model: str | Path | None, subfolder: str | None, revision: str | None
) -> VQModel:
    """The VQModel at ``vq_model`` (hub id or path), or a random one of the preset's size when None."""
    if vq_model is None:
        return build_vq_tokenizer(preset)
    return VQModel.from_pretrained(str(vq_model), subfolder=subfolder, revision=revision, use_safetensors=True)


def pipeline_from_stable_diffusion(
    sd_model: str | Path,
    revision: str | None = None,
    vq_model: str | Path | None = None,
    vq_subfolder: str | None = None,
    vq_revision: str | None = None,
    preset: ModelPreset | ModelSizes = "sd2",
    modalities: Sequence[Modality] = tuple(Modality),
    temperature_mode: TemperatureMode = "fixed",
    seed: int = 0,
    lr_conditioning: LrConditioning = "latent",
) -> MMSRPipeline:
    """An MMSRPipeline initialised from an SD2 repository (see the module docstring).

    New weights (MMLC, random VQ) are drawn from a forked torch RNG seeded with ``seed``.
    """
    source = str(sd_model)
    weights = {"revision": revision, "use_safetensors": True}
    vae = AutoencoderKL.from_pretrained(source, subfolder="vae", **weights)
    unet = UNet2DConditionModel.from_pretrained(source, subfolder="unet", **weights)
    extra = lr_channels(lr_conditioning, unet.config.out_channels)
    if unet.config.in_channels == unet.config.out_channels:
        unet = expand_input_channels(unet, extra)
    if unet.config.in_channels != unet.config.out_channels + extra:
        raise ValueError(
            f"{source}: UNet has {unet.config.in_channels} input channels, cannot add {extra} {lr_conditioning} LR channels"
        )
    text = load_text_encoder(source, revision=revision)
    scheduler = DDIMScheduler.from_pretrained(source, subfolder="scheduler", revision=revision)
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        vq = load_or_build_vq(preset, vq_model, vq_subfolder, vq_revision)
        mmlc = build_mmlc(
            preset, modalities, temperature_mode,
            text_width=text.width, vq_dim=vq.config.vq_embed_dim or vq.config.latent_channels,
            cross_attention_dim=unet.config.cross_attention_dim,
        )
    return MMSRPipeline(
        vae=vae.eval(), unet=unet, mmlc=mmlc, vq=vq.eval(), text_encoder=text.model, tokenizer=text.tokenizer,
        scheduler=scheduler, config=PipelineConfig(scale=model_sizes(preset).scale, lr_conditioning=lr_conditioning),
    )
