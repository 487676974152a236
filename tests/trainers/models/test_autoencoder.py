"""The autoencoder interface: AutoencoderKL and AutoencoderTiny behind encode / decode / scale_factor,
saved and loaded by class name, and fitted from scratch as a stand-in for a pretrained VAE."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch
from diffusers import AutoencoderKL, AutoencoderTiny

from trainers.models import autoencoder
from trainers.models.autoencoder import build_autoencoder, load_autoencoder
from trainers.models.autoencoder_fitting import AutoencoderFitConfig, fit_autoencoder, reconstruction_loss


@pytest.mark.parametrize(("preset", "cls"), [("tiny", AutoencoderKL), ("quickstart", AutoencoderTiny)])
def test_both_kinds_are_f4_with_4_latent_channels_and_load_back_by_class(preset: str, cls: type, tmp_path: Path) -> None:
    vae = build_autoencoder(preset).eval()
    assert isinstance(vae, cls) and autoencoder.scale_factor(vae) == 4
    images = torch.rand(2, 3, 64, 64) * 2 - 1
    with torch.no_grad():
        latents = autoencoder.encode(vae, images)
        assert latents.shape == (2, 4, 16, 16)
        decoded = autoencoder.decode(vae, latents)
    assert decoded.shape == images.shape and decoded.min() >= -1 and decoded.max() <= 1
    vae.save_pretrained(tmp_path / "vae", safe_serialization=True)
    loaded = load_autoencoder(tmp_path, subfolder="vae")
    assert type(loaded) is cls
    with torch.no_grad():
        torch.testing.assert_close(autoencoder.encode(loaded.eval(), images), latents)


def test_a_config_naming_another_class_is_refused(tmp_path: Path) -> None:
    build_autoencoder("quickstart").save_pretrained(tmp_path / "vae", safe_serialization=True)
    config = json.loads((tmp_path / "vae" / "config.json").read_text())
    (tmp_path / "vae" / "config.json").write_text(json.dumps({**config, "_class_name": "UNet2DModel"}))
    with pytest.raises(ValueError, match="vae class 'UNet2DModel' is not one of"):
        load_autoencoder(tmp_path, subfolder="vae")


def test_kl_encode_samples_from_the_generator_and_uses_the_mean_without_one() -> None:
    vae = build_autoencoder("tiny").eval()
    images = torch.rand(1, 3, 32, 32) * 2 - 1
    with torch.no_grad():
        mean = autoencoder.encode(vae, images)
        first = autoencoder.encode(vae, images, torch.Generator().manual_seed(0))
        again = autoencoder.encode(vae, images, torch.Generator().manual_seed(0))
    torch.testing.assert_close(first, again)
    assert not torch.equal(first, mean)
    torch.testing.assert_close(autoencoder.encode(vae, images), mean)


@pytest.mark.integration  # fits an autoencoder: ~8 s
def test_fitting_lowers_the_reconstruction_error_and_sets_unit_variance_latents() -> None:
    generator = torch.Generator().manual_seed(0)
    ramps = torch.linspace(-1, 1, 32).reshape(1, 1, 1, 32).expand(32, 3, 32, 32)
    images = (ramps * torch.rand(32, 3, 1, 1, generator=generator)).contiguous()
    vae = build_autoencoder("quickstart")
    before = float(reconstruction_loss(vae, images, 0.0, generator).detach())
    fit_autoencoder(vae, images, AutoencoderFitConfig(steps=60, batch_size=8, learning_rate=2e-3), generator)
    after = float(reconstruction_loss(vae, images, 0.0, generator).detach())
    assert after < 0.5 * before
    assert not vae.training and not any(p.requires_grad for p in vae.parameters())
    with torch.no_grad():
        assert float(autoencoder.encode(vae, images).std()) == pytest.approx(1.0, rel=1e-3)


@pytest.mark.parametrize("preset", ["tiny", "quickstart"])
def test_tiled_encode_and_decode_keep_the_size_of_any_image_for_both_kinds(preset: str) -> None:
    """The quickstart's f4 AutoencoderTiny was tiled by diffusers as f8 (its scale factor is taken
    from the image channels) and failed on every image larger than one tile."""
    vae = build_autoencoder(preset).eval()
    images = torch.rand(1, 3, 136, 72, generator=torch.Generator().manual_seed(0)) * 2 - 1
    with torch.no_grad():
        autoencoder.set_tiling(vae, None)
        whole = autoencoder.encode(vae, images)
        autoencoder.set_tiling(vae, 64)
        latents = autoencoder.encode(vae, images)
        decoded = autoencoder.decode(vae, latents)
    assert latents.shape == whole.shape == (1, 4, 34, 18)
    assert decoded.shape == images.shape
    # Close to whole: the KL mid-block attends over its tile only (12 % of the mean latent, measured).
    assert float((latents - whole).abs().mean()) < 0.25 * float(whole.abs().mean())
