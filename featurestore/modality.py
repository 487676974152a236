"""The conditioning modalities of MMSR and the names of their feature-store columns."""

from __future__ import annotations

from enum import Enum
from typing import Literal

VQ_GRID = 16
"""Each spatial modality map is tokenized into a VQ_GRID x VQ_GRID grid of codes."""
VQ_INPUT_SIZE = 256
"""Side of the square RGB rendering of a spatial map that the VQ tokenizer encodes."""
VQ_TOKENS = VQ_GRID * VQ_GRID
VQ_CODEBOOK_SIZE = 1024
CAPTION_TOKENS = 77
"""CLIP context length: caption token ids are padded/truncated to this many."""
CaptionSource = Literal["sidecar", "captioner"]
CAPTION_SOURCE_COLUMN = "caption_source"
"""Where a row's caption came from: ``"sidecar"`` (the captions file) or ``"captioner"`` (the
vision-language model, which captions only what the sidecar lacks); null when it has no caption."""


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

    @property
    def columns(self) -> tuple[str, ...]:
        """Every samples-table column this modality fills (its map, tokens and, for captions, source)."""
        if self is Modality.CAPTION:
            return (self.map_column, CAPTION_SOURCE_COLUMN, self.tokens_column)
        return (self.map_column, self.tokens_column)


SPATIAL_MODALITIES: tuple[Modality, ...] = (Modality.DEPTH, Modality.SEGMENTATION, Modality.EDGES)
