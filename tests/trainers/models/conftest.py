"""Shared fixtures: one tiny random MMSR pipeline saved once per session, loaded fresh per test;
and one pipeline of every shipped preset's architecture (``preset_pipeline``), for the paths whose
behaviour depends on it (padding and tiling: the autoencoder's kind and factor, the UNet's depth)."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from pathlib import Path

import pytest
import torch

from featurestore.modality import Modality
from trainers.models.conditioning import ModalityTokens
from trainers.models.presets import PRESETS, TINY, AutoencoderSizes, ModelSizes, UNetSizes
from trainers.models.sr_pipeline import MMSRPipeline, build_tiny_pipeline

SD2_SHAPED = dataclasses.replace(
    TINY,
    unet=UNetSizes(
        block_out_channels=(32, 32, 64, 64), layers_per_block=1, attention_head_dim=(2, 2, 4, 4),
        cross_attention_dim=TINY.unet.cross_attention_dim, sample_size=16,
    ),
    vae=AutoencoderSizes(block_out_channels=(32, 32, 64, 64), layers_per_block=1, latent_channels=4),
)
"""The ``sd2`` preset's architecture at tiny widths: a four-level UNet attending at every level but
the lowest (latents padded to multiples of 8) over an f8 AutoencoderKL. The real sizes (865 M UNet
parameters) are out of reach of a CPU test."""


def preset_sizes(preset: str) -> ModelSizes | str:
    """What ``preset_pipeline`` builds for a shipped preset: the preset itself, or its tiny-width stand-in."""
    return SD2_SHAPED if preset == "sd2" else preset


@pytest.fixture(scope="session")
def tiny_pipeline_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return build_tiny_pipeline(tmp_path_factory.mktemp("models") / "mmsr-tiny")


@pytest.fixture
def tiny_pipeline(tiny_pipeline_dir: Path) -> MMSRPipeline:
    return MMSRPipeline.from_pretrained(tiny_pipeline_dir)


@pytest.fixture(scope="session", params=sorted(PRESETS))
def preset_pipeline_dir(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A random pipeline of each shipped preset's architecture (every entry of ``PRESETS``: a preset
    added there is covered by the tests using this fixture), saved once per session."""
    root = tmp_path_factory.mktemp(f"models-{request.param}")
    return build_tiny_pipeline(root / "mmsr", preset=preset_sizes(request.param))  # type: ignore[arg-type]


@pytest.fixture
def preset_pipeline(preset_pipeline_dir: Path) -> MMSRPipeline:
    return MMSRPipeline.from_pretrained(preset_pipeline_dir)


def random_tokens(pipeline: MMSRPipeline, batch_size: int, seed: int = 0) -> ModalityTokens:
    """Depth + edges codes and a caption for every row, segmentation absent."""
    generator = torch.Generator().manual_seed(seed)
    spatial = (Modality.DEPTH, Modality.EDGES)
    codes = {m: torch.randint(0, 1024, (batch_size, 256), generator=generator) for m in spatial}
    return pipeline.condition_tokens(batch_size, codes, ["a photo of a red car"] * batch_size)


@pytest.fixture
def make_tokens() -> Callable[[MMSRPipeline, int], ModalityTokens]:
    """``make_tokens(pipeline, batch_size)``: depth + edges codes and a caption per row, no segmentation."""
    return random_tokens
