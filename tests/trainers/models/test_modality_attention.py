from __future__ import annotations

import torch

from trainers.models.modality_attention import modality_attention


def _qkv(keys: int = 96) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    generator = torch.Generator().manual_seed(0)
    return tuple(torch.randn(2, 2, n, 16, generator=generator) for n in (8, keys, keys))  # type: ignore[return-value]


def test_sdpa_path_equals_the_explicit_softmax() -> None:
    q, k, v = _qkv()
    scale = torch.linspace(0.2, 2.0, 96)
    fast = modality_attention(q, k, v, scale)
    explicit = modality_attention(q, k, v, scale, return_probs=True)
    assert fast.probs is None and explicit.probs is not None
    torch.testing.assert_close(fast.output, explicit.output, rtol=1e-5, atol=1e-5)
    torch.testing.assert_close(explicit.probs.sum(-1), torch.ones(2, 2, 8))


def test_unit_scales_equal_plain_attention() -> None:
    q, k, v = _qkv()
    torch.testing.assert_close(modality_attention(q, k, v, torch.ones(96)).output, modality_attention(q, k, v).output)


def test_logits_of_a_modality_are_divided_by_s() -> None:
    q, k, v = _qkv()
    s = 2.5
    scale = torch.ones(96)
    scale[:32] = 1 / s
    probs = modality_attention(q, k, v, scale, return_probs=True).probs
    logits = q @ k.transpose(-1, -2) / 4.0  # sqrt(d_k) = 4
    logits[..., :32] /= s
    torch.testing.assert_close(probs, logits.softmax(-1))


def test_raising_s_lowers_and_lowering_s_raises_the_attention_mass_on_that_modality() -> None:
    q, k, v = _qkv()
    masses = []
    for s in (0.4, 1.0, 10.0):
        scale = torch.ones(96)
        scale[:32] = 1 / s  # modality 0 = the first 32 keys
        probs = modality_attention(q, k, v, scale, return_probs=True).probs
        masses.append(float(probs[..., :32].sum(-1).mean()))
    assert masses[0] > masses[1] > masses[2]


def test_per_row_scales_apply_to_their_row_only() -> None:
    q, k, v = _qkv()
    scale = torch.ones(2, 96)
    scale[1, :32] = 0.1
    out = modality_attention(q, k, v, scale).output
    torch.testing.assert_close(out[0], modality_attention(q, k, v).output[0])
    assert not torch.allclose(out[1], modality_attention(q, k, v).output[1])


def test_a_key_mask_equals_attending_to_the_kept_keys_only() -> None:
    q, k, v = _qkv()
    keep = torch.zeros(2, 96, dtype=torch.bool)
    keep[0, :32], keep[1, 40:] = True, True
    scale = torch.linspace(0.5, 1.5, 96)
    masked = modality_attention(q, k, v, scale, key_mask=keep)
    explicit = modality_attention(q, k, v, scale, return_probs=True, key_mask=keep)
    torch.testing.assert_close(masked.output, explicit.output, rtol=1e-5, atol=1e-5)
    assert explicit.probs is not None and explicit.probs[1, :, :, :40].abs().sum() == 0
    for row, kept in ((0, slice(0, 32)), (1, slice(40, 96))):
        alone = modality_attention(q[row:row + 1], k[row:row + 1, :, kept], v[row:row + 1, :, kept], scale[kept])
        torch.testing.assert_close(masked.output[row:row + 1], alone.output, rtol=1e-5, atol=1e-5)
