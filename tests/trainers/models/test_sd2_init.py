from __future__ import annotations

from pathlib import Path

import pytest
import torch

from featurestore.modality import Modality
from trainers.models.autoencoder import build_autoencoder as build_vae
from trainers.models.conditional_unet import build_conditional_unet
from trainers.models.sd2_init import pipeline_from_stable_diffusion
from trainers.models.sr_pipeline import MMSRPipeline, ddim_scheduler
from trainers.models.text_encoder import build_tiny_clip


@pytest.fixture(scope="module")
def sd_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A tiny repository in the Stable Diffusion 2 layout (4-channel UNet)."""
    root = tmp_path_factory.mktemp("sd2-tiny")
    build_tiny_clip(root)
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(0)
        build_vae("tiny").save_pretrained(root / "vae")
        build_conditional_unet("tiny", latent_channels=4, lr_channels=0).save_pretrained(root / "unet")
    ddim_scheduler().save_pretrained(root / "scheduler")
    return root


@pytest.mark.parametrize(("mode", "extra"), [("latent", 4), ("pixel", 3)])
def test_pipeline_from_sd2_adds_lr_channels_and_keeps_the_unet(sd_dir: Path, tmp_path: Path, mode: str, extra: int) -> None:
    pipeline = pipeline_from_stable_diffusion(
        sd_dir, preset="tiny", modalities=(Modality.CAPTION, Modality.DEPTH), lr_conditioning=mode  # type: ignore[arg-type]
    )
    assert pipeline.unet.config.in_channels == 4 + extra and pipeline.config.lr_conditioning == mode
    assert pipeline.mmlc.config.text_width == 32 and pipeline.mmlc.modality_order == (Modality.CAPTION, Modality.DEPTH)
    original = type(pipeline.unet).from_pretrained(sd_dir, subfolder="unet").eval()
    generator = torch.Generator().manual_seed(0)
    latents, context = torch.randn(1, 4, 16, 16, generator=generator), torch.randn(1, 16, 32, generator=generator)
    with torch.no_grad():
        expected = original(latents, 3, encoder_hidden_states=context).sample
        sample = torch.cat([latents, torch.randn(1, extra, 16, 16, generator=generator)], 1)  # zero-initialised
        got = pipeline.unet.eval()(sample, 3, encoder_hidden_states=context).sample
    torch.testing.assert_close(got, expected)
    pipeline.save_pretrained(tmp_path / "mmsr")
    loaded = MMSRPipeline.from_pretrained(tmp_path / "mmsr")
    assert loaded.unet.config.in_channels == 4 + extra and loaded.config.lr_conditioning == mode


def test_vq_is_loaded_when_given(sd_dir: Path, tiny_pipeline_dir: Path) -> None:
    pipeline = pipeline_from_stable_diffusion(sd_dir, preset="tiny", vq_model=tiny_pipeline_dir, vq_subfolder="vq")
    saved = MMSRPipeline.from_pretrained(tiny_pipeline_dir).vq
    assert torch.equal(pipeline.vq.quantize.embedding.weight, saved.quantize.embedding.weight)
