"""The Multimodal Latent Connector (MMLC): N learnable latents read all modality tokens.

Sequence: every configured modality occupies a fixed slot (256 tokens per spatial modality,
77 for the caption). Absent modalities (or rows) are filled with copies of the learnable
``m_empty`` token; VQ vectors are zero-padded to the text width; learned modality-type and
position embeddings are added. The latents cross-attend to this sequence (cost O(N M), with a
per-modality temperature; the slots of a modality ``left_out`` of a row are masked out of its keys,
so that row's context is the other modalities alone), then run self-attention blocks; the output
(B, N, cross_attention_dim) is what the UNet cross-attends to.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Literal

import torch
import torch.nn.functional as F
from diffusers.configuration_utils import ConfigMixin, register_to_config
from diffusers.models.attention import BasicTransformerBlock
from diffusers.models.modeling_utils import ModelMixin
from torch import nn

from featurestore.modality import Modality
from trainers.models.conditioning import ModalityTokens, token_count
from trainers.models.modality_attention import LatentCrossAttentionBlock
from trainers.models.presets import ModelPreset, ModelSizes, model_sizes
from trainers.models.sampling_options import TemperatureSchedule
from trainers.models.timestep_temperature import TimestepTemperature

TemperatureMode = Literal["fixed", "timestep"]
Temperatures = Mapping[Modality | str, float]
"""Per-modality s (delta_m = s_m * sqrt(d_k)); modalities not named keep s = 1."""


@dataclass(frozen=True)
class ModalitySequence:
    tokens: torch.Tensor
    """(B, M, text_width) modality tokens after m_empty substitution, before embeddings."""
    key_modality: torch.Tensor
    """(M,) int64: index (into the configured modalities) of each token's modality."""
    present: torch.Tensor
    """(B, num_modalities) bool: rows that kept their real tokens (after modality dropout)."""
    key_mask: torch.Tensor | None = None
    """(B, M) bool: keys each row attends to (False: a modality left out of that row's context);
    None when every row attends to every key."""


def modality_dropout_mask(
    batch_size: int, num_modalities: int, p: float, generator: torch.Generator, device: torch.device | str
) -> torch.Tensor:
    """(B, num_modalities) bool, True where a modality is dropped (independently, probability p)."""
    draws = torch.rand((batch_size, num_modalities), generator=generator, device=generator.device)
    return (draws < p).to(device)


def substitute_absent(
    features: torch.Tensor | None, present: torch.Tensor, m_empty: torch.Tensor, length: int
) -> torch.Tensor:
    """(B, L, C) features (C <= D) + (B,) present -> (B, L, D): zero-padded, absent rows = m_empty copies.

    ``m_empty`` (D,) always enters the graph (torch.where), so it is never an unused parameter.
    """
    width = m_empty.shape[0]
    if features is None:
        return m_empty.expand(present.shape[0], length, width)
    if features.shape[-1] > width:
        raise ValueError(f"token features are {features.shape[-1]} wide, more than the MMLC's {width}")
    padded = F.pad(features.to(device=m_empty.device, dtype=m_empty.dtype), (0, width - features.shape[-1]))
    return torch.where(present[:, None, None], padded, m_empty)


class MultimodalLatentConnector(ModelMixin, ConfigMixin):
    """MMLC: ModalityTokens -> (B, num_latents, cross_attention_dim) UNet conditioning."""

    @register_to_config
    def __init__(
        self,
        modalities: Sequence[str] = ("caption", "depth", "segmentation", "edges"),
        vq_dim: int = 256,
        text_width: int = 1024,
        width: int = 1024,
        num_latents: int = 128,
        num_heads: int = 16,
        num_cross_blocks: int = 1,
        num_self_blocks: int = 4,
        cross_attention_dim: int = 1024,
        modality_dropout: float = 0.1,
        temperature_mode: TemperatureMode = "fixed",
        num_train_timesteps: int = 1000,
    ) -> None:
        super().__init__()
        order = tuple(Modality(m) for m in modalities)
        if not order or len(set(order)) != len(order):
            raise ValueError(f"mmlc.modalities must name distinct modalities, got {list(modalities)}")
        if vq_dim > text_width:
            raise ValueError(f"mmlc.vq_dim ({vq_dim}) must be <= mmlc.text_width ({text_width})")
        if width % num_heads:
            raise ValueError(f"mmlc.width ({width}) must be a multiple of mmlc.num_heads ({num_heads})")
        if not 0.0 <= modality_dropout < 1.0:
            raise ValueError(f"mmlc.modality_dropout must be in [0, 1), got {modality_dropout}")
        if temperature_mode not in ("fixed", "timestep"):
            raise ValueError(f"mmlc.temperature_mode must be 'fixed' or 'timestep', got {temperature_mode!r}")
        self.modality_order = order
        self.latents = nn.Parameter(torch.randn(num_latents, width) * 0.02)
        self.m_empty = nn.Parameter(torch.randn(text_width) * 0.02)
        self.type_embedding = nn.Parameter(torch.randn(len(order), text_width) * 0.02)
        if any(m.is_spatial for m in order):
            self.spatial_position = nn.Parameter(torch.randn(token_count(Modality.DEPTH), text_width) * 0.02)
        if Modality.CAPTION in order:
            self.caption_position = nn.Parameter(torch.randn(token_count(Modality.CAPTION), text_width) * 0.02)
        self.context_norm = nn.LayerNorm(text_width)
        self.cross_blocks = nn.ModuleList(
            LatentCrossAttentionBlock(width, text_width, num_heads) for _ in range(num_cross_blocks)
        )
        self.self_blocks = nn.ModuleList(
            BasicTransformerBlock(width, num_heads, width // num_heads, activation_fn="geglu")
            for _ in range(num_self_blocks)
        )
        self.norm_out = nn.LayerNorm(width)
        self.proj_out = nn.Linear(width, cross_attention_dim)
        if temperature_mode == "timestep":
            self.timestep_temperature = TimestepTemperature(len(order), num_train_timesteps)

    def modality_sequence(
        self,
        tokens: ModalityTokens,
        dropout_generator: torch.Generator | None = None,
        dropout_p: float | None = None,
    ) -> ModalitySequence:
        """Concatenate the modality slots, substituting m_empty for absent and dropped rows.

        Modality dropout (probability ``dropout_p``, default the config's) happens only in training
        mode and only with an explicit ``dropout_generator``.
        """
        unknown = set(tokens.modalities) - set(self.modality_order)
        if unknown:
            raise ValueError(f"the MMLC was not configured for modalities {sorted(m.value for m in unknown)}")
        device = self.m_empty.device
        present = torch.stack([tokens.mask(m, device) for m in self.modality_order], dim=1)
        p = self.config.modality_dropout if dropout_p is None else dropout_p
        if self.training and dropout_generator is not None and p > 0:
            dropped = modality_dropout_mask(tokens.batch_size, len(self.modality_order), p, dropout_generator, device)
            present = present & ~dropped
        slots, key_modality = [], []
        for index, modality in enumerate(self.modality_order):
            features = tokens.feature(modality)
            expected = self.config.text_width if modality is Modality.CAPTION else self.config.vq_dim
            if features is not None and features.shape[-1] != expected:
                raise ValueError(f"{modality.value} tokens are {features.shape[-1]} wide, the MMLC expects {expected}")
            length = token_count(modality)
            slots.append(substitute_absent(features, present[:, index], self.m_empty, length))
            key_modality.append(torch.full((length,), index, dtype=torch.long, device=device))
        keys = torch.cat(key_modality)
        return ModalitySequence(torch.cat(slots, dim=1), keys, present, self._key_mask(tokens, keys))

    def _key_mask(self, tokens: ModalityTokens, key_modality: torch.Tensor) -> torch.Tensor | None:
        """(B, M) bool keys attended (see ``ModalitySequence.key_mask``); ValueError if a row would
        attend to nothing."""
        if not tokens.left_out:
            return None
        device = self.m_empty.device
        attended = ~torch.stack([tokens.left_out_mask(m, device) for m in self.modality_order], dim=1)
        if not bool(attended.any(dim=1).all()):
            raise ValueError("a row leaves every modality out of the MMLC's context")
        return attended[:, key_modality]

    def embed_context(self, sequence: ModalitySequence) -> torch.Tensor:
        """Add modality-type and position embeddings, then LayerNorm: (B, M, text_width)."""
        positions = [
            self.caption_position if m is Modality.CAPTION else self.spatial_position for m in self.modality_order
        ]
        context = sequence.tokens + self.type_embedding[sequence.key_modality] + torch.cat(positions)
        return self.context_norm(context)

    def timestep_aware(self, schedule: TemperatureSchedule = "auto") -> bool:
        """Whether sampling with ``schedule`` applies the learned tau_m(t) (``auto``: when this MMLC has
        one); ValueError for ``timestep_aware`` on an MMLC without one."""
        learned = self.config.temperature_mode == "timestep"
        if schedule == "timestep_aware" and not learned:
            raise ValueError(
                "temperature_schedule 'timestep_aware' needs a model with a learned timestep-aware temperature "
                "(its MMLC built with temperature_mode='timestep'); this one has constant temperatures"
            )
        return learned if schedule == "auto" else schedule == "timestep_aware"

    def key_scales(
        self,
        batch_size: int,
        key_modality: torch.Tensor,
        timesteps: torch.Tensor | None = None,
        temperatures: Temperatures | None = None,
        present: torch.Tensor | None = None,
        schedule: TemperatureSchedule = "auto",
    ) -> torch.Tensor | None:
        """Per-key 1 / s: (M,) with constant temperatures (None when every s is 1), (B, M) with the
        timestep-aware ones (``timestep_aware(schedule)``) or with ``present``.

        ``present`` (B, num_modalities) bool: a temperature then applies only to the rows that carry
        the modality's tokens; m_empty slots keep s = 1 (a temperature of an absent modality changes
        nothing)."""
        values = [1.0] * len(self.modality_order)
        for name, value in (temperatures or {}).items():
            modality = Modality(name)
            if modality not in self.modality_order:
                raise ValueError(f"temperature given for {modality.value}, which the MMLC does not use")
            if value <= 0:
                raise ValueError(f"temperature of {modality.value} must be > 0, got {value}")
            values[self.modality_order.index(modality)] = float(value)
        s = torch.tensor(values, device=self.m_empty.device)
        rows = s[None, :] if present is None else torch.where(present.to(s.device), s[None, :], torch.ones_like(s))
        if self.timestep_aware(schedule):
            if timesteps is None:
                raise ValueError("the timestep-aware temperature needs the diffusion timesteps")
            steps = timesteps.to(self.m_empty.device).expand(batch_size)
            return 1.0 / (rows * self.timestep_temperature(steps))[:, key_modality]
        if all(value == 1.0 for value in values):
            return None
        return (1.0 / s)[key_modality] if present is None else (1.0 / rows)[:, key_modality]

    def forward(
        self,
        tokens: ModalityTokens,
        timesteps: torch.Tensor | None = None,
        temperatures: Temperatures | None = None,
        dropout_generator: torch.Generator | None = None,
        dropout_p: float | None = None,
        schedule: TemperatureSchedule = "auto",
    ) -> torch.Tensor:
        """ModalityTokens of B rows -> (B, num_latents, cross_attention_dim).

        ``timesteps`` (B,) or scalar: needed by the timestep-aware temperature only. ``temperatures``:
        per-modality s; ``schedule``: see ``timestep_aware``. Dropout: see ``modality_sequence``.
        """
        sequence = self.modality_sequence(tokens, dropout_generator, dropout_p)
        context = self.embed_context(sequence)
        key_scale = self.key_scales(
            tokens.batch_size, sequence.key_modality, timesteps, temperatures, sequence.present, schedule
        )
        latents = self.latents.unsqueeze(0).expand(tokens.batch_size, -1, -1)
        for cross_block in self.cross_blocks:
            latents = cross_block(latents, context, key_scale, sequence.key_mask)
        for self_block in self.self_blocks:
            latents = self_block(latents)
        return self.proj_out(self.norm_out(latents))

    @torch.no_grad()
    def modality_attention_mass(
        self,
        tokens: ModalityTokens,
        timesteps: torch.Tensor | None = None,
        temperatures: Temperatures | None = None,
    ) -> torch.Tensor:
        """(B, num_modalities): attention mass of the first cross block on each modality's tokens
        (mean over heads and latents; rows sum to 1). A diagnostic of per-modality control."""
        sequence = self.modality_sequence(tokens)
        context = self.embed_context(sequence)
        key_scale = self.key_scales(tokens.batch_size, sequence.key_modality, timesteps, temperatures, sequence.present)
        latents = self.latents.unsqueeze(0).expand(tokens.batch_size, -1, -1)
        per_key = self.cross_blocks[0].attention_probs(latents, context, key_scale, sequence.key_mask).mean(dim=(1, 2))
        one_hot = F.one_hot(sequence.key_modality, len(self.modality_order)).to(per_key.dtype)
        return per_key @ one_hot


def build_mmlc(
    preset: ModelPreset | ModelSizes,
    modalities: Sequence[Modality] = tuple(Modality),
    temperature_mode: TemperatureMode = "fixed",
    modality_dropout: float = 0.1,
    text_width: int | None = None,
    vq_dim: int | None = None,
    cross_attention_dim: int | None = None,
) -> MultimodalLatentConnector:
    """A randomly initialised MMLC of the preset's size.

    ``text_width`` / ``vq_dim`` / ``cross_attention_dim`` default to the preset's CLIP width, VQ
    codebook dimension and UNet cross-attention width (override them to fit loaded models).
    """
    sizes = model_sizes(preset)
    return MultimodalLatentConnector(
        modalities=tuple(Modality(m).value for m in modalities),
        vq_dim=vq_dim or sizes.vq.embed_dim,
        text_width=text_width or sizes.text.hidden_size,
        width=sizes.mmlc.width,
        num_latents=sizes.mmlc.num_latents,
        num_heads=sizes.mmlc.num_heads,
        num_cross_blocks=sizes.mmlc.num_cross_blocks,
        num_self_blocks=sizes.mmlc.num_self_blocks,
        cross_attention_dim=cross_attention_dim or sizes.unet.cross_attention_dim,
        modality_dropout=modality_dropout,
        temperature_mode=temperature_mode,
    )
