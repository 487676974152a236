"""What each learning-check arm puts in the MMLC's edge slot (see ``trainers.experiments.learning_check``)."""

from __future__ import annotations

from typing import Literal

import numpy as np
import torch
import torch.nn.functional as F

from featurestore.modality import VQ_GRID, Modality
from pipelines.modality_codes import codebook_vectors, encode_to_codes, maps_to_vq_input, render_modality_map
from trainers.models.conditioning import ModalityTokens
from trainers.models.sr_pipeline import MMSRPipeline

Arm = Literal["edges", "lr_only", "no_lr", "oracle"]
"""The conditioning of one arm: HR edge tokens, none, none and no LR, or the HR's own VAE latent."""


def edge_codes(pipeline: MMSRPipeline, edges: np.ndarray, batch_size: int = 32) -> torch.Tensor:
    """(N, S, S) uint8 edge maps -> (N, 256) int64 VQ codes of the pipeline's (frozen) tokenizer."""
    codes = []
    for start in range(0, len(edges), batch_size):
        rendered = [render_modality_map(edge_map, Modality.EDGES) for edge_map in edges[start : start + batch_size]]
        codes.append(encode_to_codes(pipeline.vq, maps_to_vq_input(rendered)))
    return torch.cat(codes)


def edge_features(pipeline: MMSRPipeline, edges: np.ndarray) -> torch.Tensor:
    """(N, S, S) uint8 edge maps -> (N, 256, C_vq) codebook vectors of their VQ codes (the edge tokens)."""
    return codebook_vectors(pipeline.vq, edge_codes(pipeline, edges))


@torch.no_grad()
def oracle_features(pipeline: MMSRPipeline, hr: torch.Tensor, batch_size: int = 32) -> torch.Tensor:
    """(N, 3, S, S) HR -> (N, 256, C_vq): the scaled VAE posterior means, nearest-upsampled to the
    16x16 token grid and zero-padded to the VQ width (the oracle arm's edge-slot tokens)."""
    width = pipeline.mmlc.config.vq_dim
    batches = [hr[start : start + batch_size] for start in range(0, len(hr), batch_size)]
    means = torch.cat([pipeline.vae.encode(batch).latent_dist.mean for batch in batches])
    if means.shape[1] > width:
        raise ValueError(f"the oracle needs VAE latent channels ({means.shape[1]}) <= the VQ width ({width})")
    grid = F.interpolate(means * pipeline.vae.config.scaling_factor, size=(VQ_GRID, VQ_GRID), mode="nearest")
    return F.pad(grid.flatten(2).transpose(1, 2), (0, width - means.shape[1]))


def arm_tokens(features: torch.Tensor | None, rows: torch.Tensor) -> ModalityTokens:
    """The edge-slot tokens of ``rows`` (all other modalities absent), or no modality (features None)."""
    if features is None:
        return ModalityTokens(len(rows))
    return ModalityTokens(len(rows), {Modality.EDGES: features[rows]})


def arm_features(arm: Arm, pipeline: MMSRPipeline, hr: torch.Tensor, edges: np.ndarray) -> torch.Tensor | None:
    """The (N, 256, C_vq) edge-slot tokens of ``arm`` for crops ``hr`` / their Canny maps ``edges``
    (None: no modality)."""
    if arm == "edges":
        return edge_features(pipeline, edges)
    return oracle_features(pipeline, hr) if arm == "oracle" else None
