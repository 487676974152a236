from __future__ import annotations

import torch

from trainers.models.conditional_unet import (
    build_conditional_unet,
    build_vae,
    expand_input_channels,
    resize_lr,
    unet_input,
    vae_scale_factor,
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


def test_vae_is_f4_in_the_tiny_preset() -> None:
    vae = build_vae("tiny").eval()
    assert vae_scale_factor(vae) == 4
    with torch.no_grad():
        latents = vae.encode(torch.zeros(1, 3, 64, 64)).latent_dist.mean
    assert latents.shape == (1, 4, 16, 16)


def test_unet_input_resizes_the_lr_to_the_latent() -> None:
    noisy = torch.zeros(2, 4, 32, 32)
    lr = torch.linspace(-1, 1, 16 * 16).reshape(1, 1, 16, 16).expand(2, 3, 16, 16)
    sample = unet_input(noisy, lr)
    assert sample.shape == (2, 7, 32, 32)
    assert sample[:, 4:].min() >= -1 and sample[:, 4:].max() <= 1
    torch.testing.assert_close(resize_lr(lr, (16, 16)), lr)
