"""The element that flows through the preprocessing job, stage after stage."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from typing import Any

import cv2
import numpy as np

from featurestore.modality import CaptionSource, Modality
from pipelines.incremental_plan import VariantWork


@dataclass(frozen=True)
class PreparedSample:
    """One HR crop, its LR and whatever modalities / tokens the stages so far have added.

    Stages never mutate a sample: they return ``with_map``/``with_tokens`` copies.
    """

    sample_id: str
    split: str
    source_uri: str
    source_sha256: str
    crop_box: tuple[int, int, int, int]
    """(top, left, height, width) of the crop in the source image, HR pixels."""
    seed: int
    hr: np.ndarray
    """(H, W, 3) uint8 RGB HR crop."""
    lr: np.ndarray
    """(H / scale, W / scale, 3) uint8 RGB degraded LR."""
    scale: int
    degradation: dict[str, Any]
    modality_source: str
    """"hr" or "lr": which image the modalities were extracted from."""
    caption: str | None = None
    caption_source: CaptionSource | None = None
    """Where ``caption`` came from; None exactly when there is no caption."""
    maps: dict[Modality, np.ndarray] = field(default_factory=dict)
    """Spatial modality maps at HR resolution (depth float32 0..1, segmentation uint16, edges uint8)."""
    tokens: dict[Modality, np.ndarray] = field(default_factory=dict)
    """(256,) int32 VQ codes per spatial modality; (77,) int32 CLIP ids for the caption."""
    compute: frozenset[Modality] = frozenset(Modality)
    """The modalities this run computes for the sample (stages skip the others)."""
    replaces: bool = False
    """True when the sample is already committed and this run recomputes some of its modalities."""
    crop_index: int = 0
    """Which crop of its source this is (with ``source_sha256``, what its variants' ids and draws derive from)."""
    variants: tuple[VariantWork, ...] = ()
    """Degradation variants to commit once the crop's modalities are extracted
    (:func:`pipelines.sample_preparation.degradation_variants`); empty: this sample alone."""

    def modality_input(self) -> np.ndarray:
        """(H, W, 3) uint8: the image modalities are extracted from (LR is upsampled to HR size)."""
        if self.modality_source == "hr":
            return self.hr
        height, width = self.hr.shape[:2]
        return cv2.resize(self.lr, (width, height), interpolation=cv2.INTER_CUBIC)

    def with_map(self, modality: Modality, modality_map: np.ndarray) -> PreparedSample:
        return dataclasses.replace(self, maps={**self.maps, modality: modality_map})

    def with_caption(self, caption: str | None, source: CaptionSource) -> PreparedSample:
        """A copy with ``caption`` from ``source`` (an empty or missing caption records no source)."""
        return dataclasses.replace(self, caption=caption or None, caption_source=source if caption else None)

    def with_tokens(self, modality: Modality, tokens: np.ndarray) -> PreparedSample:
        return dataclasses.replace(self, tokens={**self.tokens, modality: tokens})


@dataclass(frozen=True)
class RejectedInput:
    """An input a stage could not process; becomes one row of the errors table."""

    source_uri: str
    stage: str
    exception: str
    message: str
