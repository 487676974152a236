"""Serve-time super-resolution: an LR image (+ optional caption) and ``SamplingOptions`` in, an SR image out.

Modalities at inference are extracted from the LR (as in the paper): Canny edges here, cheap
enough for every request; modalities without an extractor at serve time are m_empty.
"""

from __future__ import annotations

from collections.abc import Sequence

import cv2
import numpy as np
import torch

from featurestore.modality import Modality
from pipelines.modalities.edges import canny_edges
from pipelines.modality_codes import encode_to_codes, maps_to_vq_input, render_modality_map
from pipelines.pixel_range import to_model_range
from trainers.models.guidance import GuidanceMode
from trainers.models.sampling_options import SamplingOptions
from trainers.models.sr_pipeline import MMSRPipeline

__all__ = ["GuidanceMode", "SamplingOptions", "super_resolve", "super_resolve_batch"]

def _to_tensor(rgb: np.ndarray, device: torch.device) -> torch.Tensor:
    return to_model_range(torch.from_numpy(rgb).permute(2, 0, 1)[None].to(device))


def lr_edge_codes(pipeline: MMSRPipeline, lrs: Sequence[np.ndarray]) -> torch.Tensor:
    """(B, 256) VQ codes of the Canny edges of B same-size LRs, bicubically upsampled to the output size."""
    scale = pipeline.config.scale
    rendered = []
    for lr in lrs:
        upsampled = cv2.resize(lr, (lr.shape[1] * scale, lr.shape[0] * scale), interpolation=cv2.INTER_CUBIC)
        rendered.append(render_modality_map(canny_edges(upsampled), Modality.EDGES))
    return encode_to_codes(pipeline.vq, maps_to_vq_input(rendered).to(pipeline.device))


def _super_resolve_same_size(
    pipeline: MMSRPipeline, lrs: Sequence[np.ndarray], captions: Sequence[str | None], options: SamplingOptions
) -> list[np.ndarray]:
    codes = {Modality.EDGES: lr_edge_codes(pipeline, lrs)}
    tokens = pipeline.condition_tokens(len(lrs), codes=codes, captions=list(captions))
    generator = torch.Generator(device="cpu").manual_seed(options.seed)
    batch = torch.cat([_to_tensor(lr, pipeline.device) for lr in lrs])
    images = pipeline(
        batch, tokens, guidance_mode=options.guidance_mode,
        guidance_scale=options.guidance_scale, steps=options.steps, temperatures=options.modality_temperatures(),
        generator=generator, negative_prompt=options.negative_prompt,
    )
    pixels = ((images.clamp(-1, 1) + 1.0) * 127.5).round().byte().permute(0, 2, 3, 1).cpu().numpy()
    return list(pixels)


def super_resolve_batch(
    pipeline: MMSRPipeline, lrs: Sequence[np.ndarray], captions: Sequence[str | None], options: SamplingOptions
) -> list[np.ndarray]:
    """(h, w, 3) uint8 RGB LRs -> (h * scale, w * scale, 3) uint8 SRs, in order.

    LRs of the same size run as one batch through the pipeline (noise from one generator seeded
    with ``options.seed``, so a batch of one equals ``super_resolve``)."""
    if len(captions) != len(lrs):
        raise ValueError(f"{len(lrs)} images but {len(captions)} captions")
    groups: dict[tuple[int, ...], list[int]] = {}
    for index, lr in enumerate(lrs):
        groups.setdefault(lr.shape, []).append(index)
    outputs: list[np.ndarray | None] = [None] * len(lrs)
    for indices in groups.values():
        results = _super_resolve_same_size(pipeline, [lrs[i] for i in indices], [captions[i] for i in indices], options)
        for index, result in zip(indices, results):
            outputs[index] = result
    return outputs  # type: ignore[return-value]


def super_resolve(pipeline: MMSRPipeline, lr: np.ndarray, caption: str | None, options: SamplingOptions) -> np.ndarray:
    """(h, w, 3) uint8 RGB LR -> (h * scale, w * scale, 3) uint8 RGB SR."""
    return super_resolve_batch(pipeline, [lr], [caption], options)[0]
