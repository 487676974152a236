"""Classifier-free guidance variants of MMSR (paper Eq. 3, Eq. 4, Table 3) and the conditioning of
their negative branch.

With z the noisy latent, c the LR image, m the multimodal tokens (depth, segmentation, edges),
pos the caption (the prompt) and neg the negative prompt, every guided mode combines two UNet
predictions the same way,

    eps = (1 + w) * eps(z, c, m, pos) - w * eps_neg,

the positive branch always seeing the given tokens, and the modes differ only in eps_neg:

- ``cfg``: eps_neg = eps(z, c, neg): the negative prompt alone. The spatial modalities are left
  out of the MMLC's context (``ModalityTokens.leave_out``: their keys are masked out of its
  cross-attention), not replaced by m_empty.
- ``m_empty-cfg``: eps_neg = eps(z, c, m_empty, neg): every spatial modality as m_empty (256
  copies each), plus the negative prompt.
- ``m-cfg`` (MMSR's multimodal CFG): eps_neg = eps(z, c, m, neg): the real modality tokens, plus
  the negative prompt.
- ``none``: eps = eps(z, c, m, pos), a single UNet pass.

neg is the CLIP encoding of the negative prompt, of the empty string "" when none is given (as
standard classifier-free guidance does), so the three guided modes differ without one too.
"""

from __future__ import annotations

import torch

from featurestore.modality import Modality
from trainers.models.conditioning import ModalityTokens
from trainers.models.sampling_options import GuidanceMode


def combine_guidance(
    mode: GuidanceMode, eps_cond: torch.Tensor, eps_uncond: torch.Tensor | None, scale: float
) -> torch.Tensor:
    """(1 + w) * eps_cond - w * eps_uncond for the guided modes; eps_cond for ``none``. Same shapes in and out."""
    if mode == "none":
        return eps_cond
    if eps_uncond is None:
        raise ValueError(f"guidance_mode {mode!r} needs the negative-branch prediction")
    return (1.0 + scale) * eps_cond - scale * eps_uncond


def negative_tokens(mode: GuidanceMode, tokens: ModalityTokens, negative_caption: torch.Tensor) -> ModalityTokens:
    """The negative branch's conditioning for ``mode`` (see the module docstring).

    ``tokens``: the positive branch's; ``negative_caption``: (B, 77, W) CLIP hidden states of the
    negative prompt ("" when none is given), the caption of every negative branch.
    """
    if mode == "none":
        raise ValueError("guidance_mode 'none' has no negative branch")
    if mode == "m-cfg":
        return tokens.replace(Modality.CAPTION, negative_caption)
    prompt_only = ModalityTokens(tokens.batch_size).replace(Modality.CAPTION, negative_caption)
    if mode == "m_empty-cfg":
        return prompt_only
    if mode == "cfg":
        return prompt_only.leave_out(m for m in Modality if m.is_spatial)
    raise ValueError(f"unknown guidance_mode {mode!r}")
