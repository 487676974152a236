from __future__ import annotations

from collections.abc import Callable

import torch

from trainers.models import autoencoder
from trainers.models.conditioning import ModalityTokens
from trainers.models.sr_pipeline import MMSRPipeline
from trainers.models.training_step import (
    DiffusionParts,
    EncodedPair,
    diffusion_loss,
    encode_hr,
    encode_lr,
    encode_pair,
    encoded_diffusion_loss,
    freeze_conditioning_models,
)


def _batch(batch: int = 2) -> tuple[torch.Tensor, torch.Tensor]:
    generator = torch.Generator().manual_seed(0)
    hr = torch.rand(batch, 3, 64, 64, generator=generator) * 2 - 1
    return hr, torch.nn.functional.avg_pool2d(hr, 4)


def test_loss_backprops_into_unet_and_mmlc_only(
    tiny_pipeline: MMSRPipeline, make_tokens: Callable[[MMSRPipeline, int], ModalityTokens]
) -> None:
    trainable = freeze_conditioning_models(tiny_pipeline)
    tiny_pipeline.unet.train()
    tiny_pipeline.mmlc.train()
    hr, lr = _batch()
    parts, tokens = DiffusionParts.of(tiny_pipeline), make_tokens(tiny_pipeline, 2)
    loss = diffusion_loss(parts, hr, lr, tokens, torch.Generator().manual_seed(0))
    assert loss.ndim == 0 and torch.isfinite(loss)
    loss.backward()
    assert len(trainable) == len(list(tiny_pipeline.unet.parameters())) + len(list(tiny_pipeline.mmlc.parameters()))
    # Non-zero, not just present: segmentation is absent, so m_empty stands in for it and must learn.
    zero = [name for name, p in tiny_pipeline.mmlc.named_parameters() if p.grad is None or p.grad.abs().sum() == 0]
    assert not zero, f"no gradient reaches the MMLC's {zero}"
    assert tiny_pipeline.unet.conv_in.weight.grad.abs().sum() > 0
    for frozen in (tiny_pipeline.vae, tiny_pipeline.vq, tiny_pipeline.text_encoder):
        assert all(p.grad is None and not p.requires_grad for p in frozen.parameters())


def test_loss_is_reproducible_from_the_generator(
    tiny_pipeline: MMSRPipeline, make_tokens: Callable[[MMSRPipeline, int], ModalityTokens]
) -> None:
    tiny_pipeline.mmlc.train()
    parts, tokens, (hr, lr) = DiffusionParts.of(tiny_pipeline), make_tokens(tiny_pipeline, 2), _batch()
    with torch.no_grad():
        first = diffusion_loss(parts, hr, lr, tokens, torch.Generator().manual_seed(5))
        again = diffusion_loss(parts, hr, lr, tokens, torch.Generator().manual_seed(5))
        other = diffusion_loss(parts, hr, lr, tokens, torch.Generator().manual_seed(6))
    assert torch.equal(first, again) and not torch.equal(first, other)


def test_a_few_steps_lower_the_loss_on_a_fixed_batch(
    tiny_pipeline: MMSRPipeline, make_tokens: Callable[[MMSRPipeline, int], ModalityTokens]
) -> None:
    optimizer = torch.optim.AdamW(freeze_conditioning_models(tiny_pipeline), lr=1e-3)
    tiny_pipeline.unet.train()
    parts, tokens, (hr, lr) = DiffusionParts.of(tiny_pipeline), make_tokens(tiny_pipeline, 2), _batch()
    losses = []
    for _ in range(8):
        loss = diffusion_loss(parts, hr, lr, tokens, torch.Generator().manual_seed(0))  # same noise each step
        loss.backward()
        optimizer.step()
        optimizer.zero_grad()
        losses.append(loss.item())
    assert losses[-1] < losses[0]


def test_the_loss_from_encodings_is_the_loss_from_pixels_posterior_draw_included(
    tiny_pipeline: MMSRPipeline, make_tokens: Callable[[MMSRPipeline, int], ModalityTokens]
) -> None:
    """The tiny preset's AutoencoderKL samples its posterior: sampling from the encoded moments
    draws the same latent from the same generator as ``autoencoder.encode`` does."""
    parts, tokens, (hr, lr) = DiffusionParts.of(tiny_pipeline), make_tokens(tiny_pipeline, 2), _batch()
    encoded = encode_pair(parts, hr, lr)
    assert encoded.latent_std is not None and encoded.latent_std.abs().sum() > 0
    drawn = encoded.draw_latents(torch.Generator().manual_seed(3))
    assert torch.allclose(drawn, autoencoder.encode(parts.vae, hr, torch.Generator().manual_seed(3)), atol=1e-6)
    with torch.no_grad():
        from_pixels = diffusion_loss(parts, hr, lr, tokens, torch.Generator().manual_seed(5))
        from_encodings = encoded_diffusion_loss(parts, encoded, tokens, torch.Generator().manual_seed(5))
    assert torch.allclose(from_pixels, from_encodings, atol=1e-6)


def test_encodings_split_and_stack_by_row(tiny_pipeline: MMSRPipeline) -> None:
    hr, lr = _batch(3)
    encoded = encode_pair(DiffusionParts.of(tiny_pipeline), hr, lr)
    rows = [encoded.rows(torch.tensor([i])) for i in (2, 0)]
    again = EncodedPair.stack(rows)
    assert torch.equal(again.latent_mean, encoded.latent_mean[[2, 0]])
    assert torch.equal(again.condition, encoded.condition[[2, 0]])
    assert again.latent_std is not None and torch.equal(again.latent_std, encoded.latent_std[[2, 0]])


def test_hr_encodings_with_a_separately_encoded_lr_equal_the_pair(tiny_pipeline: MMSRPipeline) -> None:
    """What on-the-fly training does: HR encodings (cached) + the condition of a fresh LR."""
    hr, lr = _batch(2)
    parts = DiffusionParts.of(tiny_pipeline)
    pair = encode_pair(parts, hr, lr)
    cached = EncodedPair.stack([encode_hr(parts, hr).rows(torch.tensor([i])) for i in range(2)])
    assert cached.condition.shape == (2, 0, 1, 1)
    split = cached.with_condition(encode_lr(parts, lr, tuple(pair.latent_mean.shape[-2:])))
    assert torch.equal(split.latent_mean, pair.latent_mean) and torch.equal(split.condition, pair.condition)
