"""The conditioning modalities of MMSR and the names of their feature-store columns."""

from __future__ import annotations

from enum import Enum

VQ_GRID = 16
"""Each spatial modality map is tokenized into a VQ_GRID x VQ_GRID grid of codes."""
VQ_INPUT_SIZE = 256
"""Side of the square RGB rendering of a spatial map that the VQ tokenizer encodes."""
VQ_TOKENS = VQ_GRID * VQ_GRID
VQ_CODEBOOK_SIZE = 1024
CAPTION_TOKENS = 77
"""CLIP context length: caption token ids are padded/truncated to this many."""


class Modality(str, Enum):
    """A conditioning modality. Spatial ones are images turned into VQ codes; caption is text."""

    CAPTION = "caption"
    DEPTH = "depth"
    SEGMENTATION = "segmentation"
    EDGES = "edges"

    @property
    def is_spatial(self) -> bool:
        return self is not Modality.CAPTION

    @property
    def tokens_column(self) -> str:
        """list<int32>: VQ codes (spatial, 256) or CLIP token ids (caption, 77); null if absent."""
        return "caption_token_ids" if self is Modality.CAPTION else f"{self.value}_tokens"

    @property
    def map_column(self) -> str:
        """binary PNG of the modality map (spatial) or the caption text (caption)."""
        return "caption" if self is Modality.CAPTION else f"{self.value}_png"


SPATIAL_MODALITIES: tuple[Modality, ...] = (Modality.DEPTH, Modality.SEGMENTATION, Modality.EDGES)
