"""Per-modality token features of a batch (``ModalityTokens``) and how they are built from codes and ids.

Spatial modalities become frozen VQ codebook vectors (B, 256, C_vq); the caption becomes frozen
CLIP hidden states (B, 77, W_text). A modality can be absent for the whole batch (no tensor) or
for some rows (``present`` mask False); the MMLC replaces absent rows by copies of ``m_empty``.
A modality can also be left out of some rows' context (``left_out``): the MMLC's cross-attention
then does not see its slot at all, neither tokens nor m_empty (``cfg``'s negative branch).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field

import numpy as np
import torch
from diffusers import VQModel
from transformers import CLIPTextModel

from featurestore.modality import CAPTION_TOKENS, VQ_TOKENS, Modality
from pipelines.modality_codes import codebook_vectors
from trainers.models.text_encoder import encode_caption_ids


def token_count(modality: Modality) -> int:
    """Tokens per row of a modality: 256 VQ codes (spatial) or 77 CLIP positions (caption)."""
    return VQ_TOKENS if modality.is_spatial else CAPTION_TOKENS


@dataclass(frozen=True)
class ModalityTokens:
    """Token features of one batch, per modality.

    ``features[m]``: (B, L_m, C_m) float (L = 256 spatial, 77 caption); a modality missing from
    ``features`` (or mapped to None) is absent for every row. ``present[m]``: (B,) bool, rows
    that have modality m; a modality with features but no mask is present in every row.
    ``left_out[m]``: (B,) bool, rows whose MMLC context leaves m out (its keys masked out of the
    cross-attention instead of m_empty); such rows must not be present.
    """

    batch_size: int
    features: Mapping[Modality, torch.Tensor | None] = field(default_factory=dict)
    present: Mapping[Modality, torch.Tensor] = field(default_factory=dict)
    left_out: Mapping[Modality, torch.Tensor] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if self.batch_size < 1:
            raise ValueError(f"ModalityTokens.batch_size must be >= 1, got {self.batch_size}")
        for modality, value in self.features.items():
            if value is None:
                continue
            expected = (self.batch_size, token_count(modality))
            if value.ndim != 3 or tuple(value.shape[:2]) != expected:
                raise ValueError(f"features[{modality.value}] must be {expected} x C, got {tuple(value.shape)}")
        for name, masks in (("present", self.present), ("left_out", self.left_out)):
            for modality, mask in masks.items():
                if mask.shape != (self.batch_size,) or mask.dtype != torch.bool:
                    raise ValueError(f"{name}[{modality.value}] must be a ({self.batch_size},) bool tensor")
        for modality, mask in self.left_out.items():
            if bool((mask & self.mask(modality, mask.device)).any()):
                raise ValueError(f"left_out[{modality.value}] marks rows that are present")

    @property
    def modalities(self) -> tuple[Modality, ...]:
        """Modalities with a features tensor (present in at least the rows of their mask)."""
        return tuple(m for m, value in self.features.items() if value is not None)

    def feature(self, modality: Modality) -> torch.Tensor | None:
        return self.features.get(modality)

    def mask(self, modality: Modality, device: torch.device | str | None = None) -> torch.Tensor:
        """(B,) bool: rows where ``modality`` is present (all False when it has no features)."""
        value = self.features.get(modality)
        if value is None:
            return torch.zeros(self.batch_size, dtype=torch.bool, device=device)
        mask = self.present.get(modality)
        if mask is None:
            return torch.ones(self.batch_size, dtype=torch.bool, device=device or value.device)
        return mask.to(device or value.device)

    def left_out_mask(self, modality: Modality, device: torch.device | str | None = None) -> torch.Tensor:
        """(B,) bool: rows whose MMLC context leaves ``modality`` out (all False unless ``left_out``)."""
        mask = self.left_out.get(modality)
        if mask is None:
            return torch.zeros(self.batch_size, dtype=torch.bool, device=device)
        return mask.to(device or mask.device)

    def only(self, modalities: Iterable[Modality]) -> ModalityTokens:
        """A copy where every modality not in ``modalities`` is absent (m_empty, not left out)."""
        keep = set(modalities)
        return ModalityTokens(
            self.batch_size,
            {m: v for m, v in self.features.items() if m in keep and v is not None},
            {m: v for m, v in self.present.items() if m in keep},
            {m: v for m, v in self.left_out.items() if m in keep},
        )

    def leave_out(self, modalities: Iterable[Modality]) -> ModalityTokens:
        """A copy whose every row leaves ``modalities`` out of the MMLC's context (no tokens, no m_empty)."""
        drop = set(modalities)
        tokens = self.without(drop)
        every_row = torch.ones(self.batch_size, dtype=torch.bool)
        return ModalityTokens(
            self.batch_size, tokens.features, tokens.present, {**tokens.left_out, **{m: every_row for m in drop}}
        )

    def without(self, modalities: Iterable[Modality]) -> ModalityTokens:
        """A copy where ``modalities`` are absent (m_empty)."""
        drop = set(modalities)
        return self.only(m for m in (*self.modalities, *self.left_out) if m not in drop)

    def replace(self, modality: Modality, features: torch.Tensor | None) -> ModalityTokens:
        """A copy with ``modality`` set to ``features`` (present in every row) or absent (None)."""
        tokens = self.without([modality])
        if features is None:
            return tokens
        return ModalityTokens(self.batch_size, {**tokens.features, modality: features}, tokens.present, tokens.left_out)

    def to(self, device: torch.device | str | None = None, dtype: torch.dtype | None = None) -> ModalityTokens:
        """Features moved to ``device``/cast to ``dtype``; masks moved to ``device``."""
        return ModalityTokens(
            self.batch_size,
            {m: v.to(device=device, dtype=dtype) for m, v in self.features.items() if v is not None},
            {m: v.to(device=device) for m, v in self.present.items()},
            {m: v.to(device=device) for m, v in self.left_out.items()},
        )


def concat_tokens(first: ModalityTokens, second: ModalityTokens) -> ModalityTokens:
    """Stack two batches (e.g. the positive and negative guidance branches) along the batch axis.

    A modality absent from one side is zero-filled there with its rows marked absent; ``left_out``
    rows stay left out.
    """
    features: dict[Modality, torch.Tensor] = {}
    present: dict[Modality, torch.Tensor] = {}
    for modality in dict.fromkeys(first.modalities + second.modalities):
        template = first.feature(modality)
        template = second.feature(modality) if template is None else template
        assert template is not None
        parts = []
        for side in (first, second):
            value = side.feature(modality)
            if value is None:
                value = template.new_zeros((side.batch_size, *template.shape[1:]))
            parts.append(value)
        features[modality] = torch.cat(parts)
        device = template.device
        present[modality] = torch.cat([first.mask(modality, device), second.mask(modality, device)])
    left_out = {
        m: torch.cat([first.left_out_mask(m, mask.device), second.left_out_mask(m, mask.device)])
        for m, mask in {**first.left_out, **second.left_out}.items()
    }
    return ModalityTokens(first.batch_size + second.batch_size, features, present, left_out)


def build_modality_tokens(
    codes: Mapping[Modality, torch.Tensor | None],
    caption_ids: torch.Tensor | None,
    vq: VQModel,
    text_model: CLIPTextModel,
    present: Mapping[Modality, torch.Tensor] | None = None,
) -> ModalityTokens:
    """Look up frozen features: (B, 256) VQ codes -> codebook vectors; (B, 77) CLIP ids -> hidden states.

    ``codes`` maps spatial modalities to their codes (None = absent); ``present`` optionally gives
    per-row (B,) bool masks (rows without a modality may hold any valid ids). No gradient flows.
    """
    given = [c for c in codes.values() if c is not None] + ([caption_ids] if caption_ids is not None else [])
    if not given:
        raise ValueError("build_modality_tokens needs codes of one modality at least (else ModalityTokens(batch_size))")
    batch_size = int(given[0].shape[0])
    features: dict[Modality, torch.Tensor] = {}
    for modality, value in codes.items():
        if not modality.is_spatial:
            raise ValueError("pass the caption as caption_ids, not in codes")
        if value is not None:
            features[modality] = codebook_vectors(vq, value)
    if caption_ids is not None:
        features[Modality.CAPTION] = encode_caption_ids(text_model, caption_ids)
    masks = {m: v.to(torch.bool) for m, v in (present or {}).items() if m in features}
    return ModalityTokens(batch_size, features, masks)


def tokens_from_feature_batch(
    batch: Mapping[str, np.ndarray],
    vq: VQModel,
    text_model: CLIPTextModel,
    modalities: Iterable[Modality] = tuple(Modality),
) -> ModalityTokens:
    """``trainers.data.feature_batches.decode_feature_batch`` output -> ModalityTokens on the models' device.

    Reads ``<m>_tokens`` (B, 256 | 77) int64 and ``<m>_present`` (B,) bool for each of ``modalities``;
    the other modalities are absent.
    """
    device = vq.device
    modalities = tuple(modalities)
    if not modalities:
        raise ValueError("tokens_from_feature_batch needs at least one modality")
    batch_size = len(batch[f"{modalities[0].value}_present"])
    codes: dict[Modality, torch.Tensor | None] = {}
    present: dict[Modality, torch.Tensor] = {}
    caption_ids = None
    for modality in modalities:
        mask = torch.from_numpy(np.asarray(batch[f"{modality.value}_present"], dtype=bool)).to(device)
        if not bool(mask.any()):
            continue
        ids = torch.from_numpy(np.asarray(batch[f"{modality.value}_tokens"], dtype=np.int64)).to(device)
        present[modality] = mask
        if modality is Modality.CAPTION:
            caption_ids = ids
        else:
            codes[modality] = ids
    if not codes and caption_ids is None:
        return ModalityTokens(batch_size)
    return build_modality_tokens(codes, caption_ids, vq, text_model, present)
