"""Classifier-free guidance variants of MMSR and the conditioning of their negative branch.

With z the noisy latent, c the LR image, pos/neg the positive/negative prompt and m the
multimodal tokens, every guided mode combines two UNet predictions the same way,

    eps = (1 + w) * eps_pos - w * eps_neg,

and the modes differ only in what the negative branch sees (the positive branch always sees
the given tokens; the caption modality plays the role of the prompt):

- ``m-cfg`` (MMSR's multimodal CFG): eps_neg = eps(z, c, neg, m): the spatial modalities stay,
  only the caption becomes the negative prompt (m_empty when none is given).
- ``cfg``: eps_neg = eps(z, c, neg): no multimodal tokens, every spatial modality is m_empty,
  the caption is the negative prompt (m_empty when none is given).
- ``m_empty-cfg``: eps_neg sees every modality, caption included, replaced by m_empty.
- ``none``: eps = eps_pos, a single UNet pass.
"""

from __future__ import annotations

import torch

from featurestore.modality import Modality
from trainers.models.conditioning import ModalityTokens
from trainers.models.sampling_options import GuidanceMode, check_guidance_mode


def combine_guidance(
    mode: GuidanceMode, eps_cond: torch.Tensor, eps_uncond: torch.Tensor | None, scale: float
) -> torch.Tensor:
    """(1 + w) * eps_cond - w * eps_uncond for the guided modes; eps_cond for ``none``. Same shapes in and out."""
    check_guidance_mode(mode)
    if mode == "none":
        return eps_cond
    if eps_uncond is None:
        raise ValueError(f"guidance_mode {mode!r} needs the negative-branch prediction")
    return (1.0 + scale) * eps_cond - scale * eps_uncond


def negative_tokens(
    mode: GuidanceMode, tokens: ModalityTokens, negative_caption: torch.Tensor | None = None
) -> ModalityTokens:
    """The negative branch's conditioning for ``mode`` (see the module docstring).

    ``negative_caption``: (B, 77, W) CLIP hidden states of the negative prompt, or None (m_empty).
    """
    check_guidance_mode(mode)
    if mode == "none":
        raise ValueError("guidance_mode 'none' has no negative branch")
    empty = ModalityTokens(tokens.batch_size)
    if mode == "m_empty-cfg":
        return empty
    if mode == "cfg":
        return empty.replace(Modality.CAPTION, negative_caption)
    return tokens.replace(Modality.CAPTION, negative_caption)
