"""Serve-time super-resolution: an LR image (+ optional caption) and ``SamplingOptions`` in, an SR image out.

Modalities at inference are extracted from the LR, as in the paper (:mod:`orchestration.serving.lr_modalities`):
edges always, depth and segmentation with the extractors packaged in the registered model. A
modality in ``options.disabled`` is m_empty whatever was extracted or given. An image denoised in
tiles conditions each tile on its own region's maps (:mod:`orchestration.serving.tile_conditioning`).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import torch

from featurestore.modality import Modality
from orchestration.serving.lr_modalities import LrModalities, lr_modality_maps, map_codes
from orchestration.serving.tile_conditioning import TileModalityTokens
from pipelines.pixel_range import to_model_range
from trainers.models.sampling_options import GuidanceMode, SamplingOptions
from trainers.models.sr_pipeline import MMSRPipeline

__all__ = ["GuidanceMode", "LrModalities", "SamplingOptions", "super_resolve", "super_resolve_batch"]

EDGES_ONLY = LrModalities()
"""The extractors of a pipeline packaged without depth and segmentation."""


def _to_tensor(rgb: np.ndarray, device: torch.device) -> torch.Tensor:
    return to_model_range(torch.from_numpy(rgb).permute(2, 0, 1)[None].to(device))


def _super_resolve_same_size(
    pipeline: MMSRPipeline, lrs: Sequence[np.ndarray], captions: Sequence[str | None], options: SamplingOptions,
    extractors: LrModalities,
) -> list[np.ndarray]:
    disabled = options.disabled_modalities()
    scale = pipeline.config.scale
    maps = lr_modality_maps(extractors, lrs, scale, skip=disabled)
    codes = {modality: map_codes(pipeline, modality, found) for modality, found in maps.items()}
    captions = [None] * len(lrs) if Modality.CAPTION in disabled else list(captions)
    whole = pipeline.condition_tokens(len(lrs), codes=codes, captions=captions)
    height, width = lrs[0].shape[:2]
    tokens = TileModalityTokens(pipeline, maps, whole, (height * scale, width * scale))
    batch = torch.cat([_to_tensor(lr, pipeline.device) for lr in lrs])
    images = pipeline(batch, tokens, options)
    pixels = ((images.clamp(-1, 1) + 1.0) * 127.5).round().byte().permute(0, 2, 3, 1).cpu().numpy()
    return list(pixels)


def super_resolve_batch(
    pipeline: MMSRPipeline, lrs: Sequence[np.ndarray], captions: Sequence[str | None], options: SamplingOptions,
    extractors: LrModalities = EDGES_ONLY,
) -> list[np.ndarray]:
    """(h, w, 3) uint8 RGB LRs -> (h * scale, w * scale, 3) uint8 SRs, in order; ``extractors``
    give the LR's modalities (``LrModalities.load`` of the pipeline folder).

    LRs of the same size run as one batch through the pipeline (noise from one generator seeded
    with ``options.seed``, so a batch of one equals ``super_resolve``)."""
    if len(captions) != len(lrs):
        raise ValueError(f"{len(lrs)} images but {len(captions)} captions")
    groups: dict[tuple[int, ...], list[int]] = {}
    for index, lr in enumerate(lrs):
        groups.setdefault(lr.shape, []).append(index)
    outputs: list[np.ndarray | None] = [None] * len(lrs)
    for indices in groups.values():
        same_size = [lrs[i] for i in indices]
        results = _super_resolve_same_size(pipeline, same_size, [captions[i] for i in indices], options, extractors)
        for index, result in zip(indices, results):
            outputs[index] = result
    return outputs  # type: ignore[return-value]


def super_resolve(
    pipeline: MMSRPipeline, lr: np.ndarray, caption: str | None, options: SamplingOptions,
    extractors: LrModalities = EDGES_ONLY,
) -> np.ndarray:
    """(h, w, 3) uint8 RGB LR -> (h * scale, w * scale, 3) uint8 RGB SR."""
    return super_resolve_batch(pipeline, [lr], [caption], options, extractors)[0]
