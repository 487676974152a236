"""Cross-attention with a per-modality temperature (MMSR's per-modality control).

For keys of modality m the logits are divided by delta_m = s_m * sqrt(d_k) instead of sqrt(d_k):
softmax(Q K^T / delta) V. This is done by scaling modality m's keys by 1 / s_m and running
``F.scaled_dot_product_attention`` (which divides by sqrt(d_k)). A larger s_m flattens the
attention inside modality m (for logits centred near 0 it also lowers its total mass); a smaller
s_m sharpens it. A key mask leaves keys out of a row's softmax altogether (a modality left out of
that row's context).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from diffusers.models.attention import FeedForward
from diffusers.models.attention_processor import Attention
from torch import nn


@dataclass(frozen=True)
class AttentionResult:
    output: torch.Tensor
    """(B, H, N, d) attended values."""
    probs: torch.Tensor | None
    """(B, H, N, M) attention probabilities, only when requested."""


def modality_attention(
    query: torch.Tensor,
    key: torch.Tensor,
    value: torch.Tensor,
    key_scale: torch.Tensor | None = None,
    return_probs: bool = False,
    key_mask: torch.Tensor | None = None,
) -> AttentionResult:
    """softmax(Q (K * key_scale)^T / sqrt(d)) V over the keys of ``key_mask``.

    query (B, H, N, d); key, value (B, H, M, d); key_scale (M,) or (B, M): 1 / s of each key's
    modality (None = 1 everywhere); key_mask (B, M) bool: keys each row attends to (None = all; a
    row needs one at least). ``return_probs`` computes the softmax explicitly and returns it.
    """
    if key_scale is not None:
        scale = key_scale.to(dtype=key.dtype, device=key.device)
        scale = scale[None, None, :, None] if scale.ndim == 1 else scale[:, None, :, None]
        key = key * scale
    mask = None if key_mask is None else key_mask.to(key.device)[:, None, None, :]
    if not return_probs:
        return AttentionResult(F.scaled_dot_product_attention(query, key, value, attn_mask=mask), None)
    logits = query @ key.transpose(-1, -2) / math.sqrt(query.shape[-1])
    if mask is not None:
        logits = logits.masked_fill(~mask, float("-inf"))
    probs = logits.softmax(dim=-1)
    return AttentionResult(probs @ value, probs)


def _split_heads(tensor: torch.Tensor, heads: int) -> torch.Tensor:
    batch, length, channels = tensor.shape
    return tensor.view(batch, length, heads, channels // heads).transpose(1, 2)


class ModalityTemperatureProcessor:
    """diffusers attention processor: ``Attention`` projections + ``modality_attention``.

    Takes ``key_scale`` ((M,) or (B, M)) and ``key_mask`` ((B, M) bool) as cross-attention kwargs.
    """

    def __call__(
        self,
        attn: Attention,
        hidden_states: torch.Tensor,
        encoder_hidden_states: torch.Tensor | None = None,
        attention_mask: torch.Tensor | None = None,
        key_scale: torch.Tensor | None = None,
        key_mask: torch.Tensor | None = None,
    ) -> torch.Tensor:
        if attention_mask is not None:
            raise ValueError("ModalityTemperatureProcessor does not support attention masks")
        context = hidden_states if encoder_hidden_states is None else encoder_hidden_states
        query = _split_heads(attn.to_q(hidden_states), attn.heads)
        key = _split_heads(attn.to_k(context), attn.heads)
        value = _split_heads(attn.to_v(context), attn.heads)
        out = modality_attention(query, key, value, key_scale, key_mask=key_mask).output
        batch, heads, length, head_dim = out.shape
        out = out.transpose(1, 2).reshape(batch, length, heads * head_dim)
        return attn.to_out[1](attn.to_out[0](out))


class LatentCrossAttentionBlock(nn.Module):
    """Pre-norm block: latents cross-attend to the modality tokens, then a GEGLU feed-forward.

    latents (B, N, width), context (B, M, token_width) -> (B, N, width).
    """

    def __init__(self, width: int, token_width: int, num_heads: int) -> None:
        super().__init__()
        self.norm_latents = nn.LayerNorm(width)
        self.attn = Attention(
            query_dim=width,
            cross_attention_dim=token_width,
            heads=num_heads,
            dim_head=width // num_heads,
            out_bias=True,
            processor=ModalityTemperatureProcessor(),
        )
        self.norm_ff = nn.LayerNorm(width)
        self.ff = FeedForward(width, activation_fn="geglu")

    def forward(
        self, latents: torch.Tensor, context: torch.Tensor, key_scale: torch.Tensor | None = None,
        key_mask: torch.Tensor | None = None,
    ) -> torch.Tensor:
        """``key_scale``: 1 / s per key, (M,) or (B, M); ``key_mask``: (B, M) bool keys attended."""
        attended = self.attn(
            self.norm_latents(latents), encoder_hidden_states=context, key_scale=key_scale, key_mask=key_mask
        )
        latents = latents + attended
        return latents + self.ff(self.norm_ff(latents))

    def attention_probs(
        self, latents: torch.Tensor, context: torch.Tensor, key_scale: torch.Tensor | None = None,
        key_mask: torch.Tensor | None = None,
    ) -> torch.Tensor:
        """(B, H, N, M) attention probabilities of this block's cross-attention."""
        query = _split_heads(self.attn.to_q(self.norm_latents(latents)), self.attn.heads)
        key = _split_heads(self.attn.to_k(context), self.attn.heads)
        value = _split_heads(self.attn.to_v(context), self.attn.heads)
        probs = modality_attention(query, key, value, key_scale, return_probs=True, key_mask=key_mask).probs
        assert probs is not None
        return probs
