"""Tile-aligned modality tokens: each UNet tile is conditioned on the modalities of its own region.

Training denoises HR crops conditioned on the modality maps of that same crop. A large image is
denoised in tiles (:class:`~trainers.models.sr_pipeline.MMSRPipeline`), and giving every tile the
whole image's tokens would show it a map of other content at another scale than training did.
So the maps are extracted once from the whole upsampled LR (depth and segmentation need the
context), and each tile gets the VQ codes of its own region of them, cropped, rendered and coded
as preprocessing codes a crop's maps (depth is min-max normalised again over the crop, as a crop's
depth is in preprocessing). The caption stays the image's. An image that fits in one tile gets the
whole-image tokens, unchanged.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np

from featurestore.modality import Modality
from orchestration.serving.lr_modalities import map_codes
from pipelines.modalities.depth import normalize_depth
from pipelines.modality_codes import codebook_vectors
from trainers.models.conditioning import ModalityTokens
from trainers.models.sr_pipeline import MMSRPipeline
from trainers.models.tiling import TileBox


def map_region(map_shape: tuple[int, ...], box: TileBox, output_hw: tuple[int, int]) -> tuple[slice, slice]:
    """The rows and columns of a (H', W') map of the whole output (extracted at H' x W') that a tile
    box in output pixels covers, clipped to the map (a box may reach into the padding); >= 1 pixel each."""
    top, left, height, width = box
    rows = _span(top, height, output_hw[0], map_shape[0])
    columns = _span(left, width, output_hw[1], map_shape[1])
    return rows, columns


def _span(start: int, length: int, output_length: int, map_length: int) -> slice:
    ratio = map_length / output_length
    first = min(max(0, int(np.floor(start * ratio))), map_length - 1)
    last = min(map_length, int(np.ceil((start + length) * ratio)))
    return slice(first, max(last, first + 1))


def crop_map(modality: Modality, modality_map: np.ndarray, region: tuple[slice, slice]) -> np.ndarray:
    """The region of one map, as a crop's map is in preprocessing (depth re-normalised to [0, 1])."""
    crop = modality_map[region]
    return normalize_depth(crop) if modality is Modality.DEPTH else crop


@dataclass(frozen=True, eq=False)
class TileModalityTokens:
    """A :data:`~trainers.models.sr_pipeline.TileTokens`: the tokens of each tile's region."""

    pipeline: MMSRPipeline
    maps: Mapping[Modality, Sequence[np.ndarray]]
    """Each spatial modality's maps of the B images (any size: the whole output, maybe shrunk)."""
    whole: ModalityTokens
    """The whole images' tokens (their maps' codes and the captions)."""
    output_hw: tuple[int, int]
    """The output size in pixels, before padding."""

    def __call__(self, box: TileBox) -> ModalityTokens:
        top, left, height, width = box
        if top <= 0 and left <= 0 and top + height >= self.output_hw[0] and left + width >= self.output_hw[1]:
            return self.whole
        tokens = self.whole
        for modality, maps in self.maps.items():
            crops = [crop_map(modality, map_, map_region(map_.shape, box, self.output_hw)) for map_ in maps]
            codes = map_codes(self.pipeline, modality, crops)
            tokens = tokens.replace(modality, codebook_vectors(self.pipeline.vq, codes))
        return tokens
