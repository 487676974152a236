from __future__ import annotations

import torch

from trainers.models import autoencoder
from trainers.models.autoencoder import build_autoencoder
from trainers.models.conditional_unet import (
    build_conditional_unet,
    expand_input_channels,
    lr_channels,
    lr_condition,
    resize_lr,
    unet_input,
)


def _seeded_unet(lr_channels: int) -> torch.nn.Module:
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(0)
        return build_conditional_unet("tiny", latent_channels=4, lr_channels=lr_channels).eval()


def test_unet_takes_latent_plus_lr_channels_and_predicts_latent_channels() -> None:
    unet = _seeded_unet(3)
    generator = torch.Generator().manual_seed(0)
    sample = torch.randn(2, 7, 16, 16, generator=generator)
    context = torch.randn(2, 16, 32, generator=generator)
    with torch.no_grad():
        out = unet(sample, torch.tensor([10, 500]), encoder_hidden_states=context).sample
    assert out.shape == (2, 4, 16, 16)


def test_expand_input_channels_keeps_outputs_when_extra_inputs_are_zero() -> None:
    unet = _seeded_unet(0)
    generator = torch.Generator().manual_seed(1)
    latents = torch.randn(1, 4, 16, 16, generator=generator)
    context = torch.randn(1, 16, 32, generator=generator)
    with torch.no_grad():
        before = unet(latents, 7, encoder_hidden_states=context).sample
        expanded = expand_input_channels(unet, 3)
        after = expanded(torch.cat([latents, torch.zeros(1, 3, 16, 16)], 1), 7, encoder_hidden_states=context).sample
        with_lr = expanded(torch.cat([latents, torch.ones(1, 3, 16, 16)], 1), 7, encoder_hidden_states=context).sample
    assert expanded.config.in_channels == 7 and expanded.conv_in.in_channels == 7
    torch.testing.assert_close(after, before)
    torch.testing.assert_close(with_lr, before)  # zero weights: the new channels start without effect
    assert expanded.conv_in.weight[:, 4:].abs().sum() == 0


def test_pixel_condition_resizes_the_lr_to_the_latent() -> None:
    noisy = torch.zeros(2, 4, 32, 32)
    lr = torch.linspace(-1, 1, 16 * 16).reshape(1, 1, 16, 16).expand(2, 3, 16, 16)
    sample = unet_input(noisy, lr_condition(lr, (32, 32), "pixel", build_autoencoder("tiny")))
    assert sample.shape == (2, 4 + lr_channels("pixel", 4), 32, 32)
    assert sample[:, 4:].min() >= -1 and sample[:, 4:].max() <= 1
    torch.testing.assert_close(resize_lr(lr, (16, 16)), lr)


def test_latent_condition_is_the_latent_of_the_bicubically_upsampled_lr() -> None:
    vae = build_autoencoder("quickstart").eval()
    lr = torch.rand(2, 3, 8, 8, generator=torch.Generator().manual_seed(0)) * 2 - 1
    condition = lr_condition(lr, (8, 8), "latent", vae)  # latent 8x8 = 32x32 HR (f4): LR upsampled 4x
    assert condition.shape == (2, lr_channels("latent", 4), 8, 8)
    upsampled = torch.nn.functional.interpolate(lr, size=(32, 32), mode="bicubic", align_corners=False).clamp(-1, 1)
    with torch.no_grad():
        torch.testing.assert_close(condition, autoencoder.encode(vae, upsampled))
    assert unet_input(torch.zeros(2, 4, 8, 8), condition).shape == (2, 8, 8, 8)
