"""Spatial modality maps -> VQ codes and back, with any diffusers ``VQModel`` (VQGAN).

Maps are first rendered to 256x256 RGB (depth as grey, segmentation through a fixed palette, edges
as grey), so one tokenizer serves every spatial modality; the codes are a 16x16 grid of indices
into its 1024-entry codebook. Preprocessing encodes with these functions and training decodes the
codes with them, so they sit below both; the VQ model itself is built in
:mod:`trainers.models.vq_tokenizer`.
"""

from __future__ import annotations

from collections.abc import Sequence

import cv2
import numpy as np
import torch
from diffusers import VQModel

from featurestore.modality import VQ_GRID, VQ_INPUT_SIZE, Modality
from pipelines.pixel_range import to_model_range


def segmentation_palette(labels: np.ndarray) -> np.ndarray:
    """Integer class ids (any shape) -> (..., 3) uint8 colours, PASCAL-VOC bit-interleaving palette.

    Deterministic and injective for ids < 2**24; id 0 is black.
    """
    ids = labels.astype(np.int64)
    if ids.size and ids.min() < 0:
        raise ValueError("segmentation class ids must be >= 0")
    rgb = np.zeros(ids.shape + (3,), dtype=np.int64)
    for bit in range(8):
        for channel in range(3):
            rgb[..., channel] |= ((ids >> (3 * bit + channel)) & 1) << (7 - bit)
    return rgb.astype(np.uint8)


def _resize(image: np.ndarray, interpolation_down: int, interpolation_up: int) -> np.ndarray:
    height, width = image.shape[:2]
    shrinking = height * width > VQ_INPUT_SIZE * VQ_INPUT_SIZE
    interpolation = interpolation_down if shrinking else interpolation_up
    return cv2.resize(image, (VQ_INPUT_SIZE, VQ_INPUT_SIZE), interpolation=interpolation)


def render_modality_map(modality_map: np.ndarray, modality: Modality) -> np.ndarray:
    """One (H, W) spatial map -> (256, 256, 3) uint8 RGB, the VQ tokenizer's input.

    depth: float in [0, 1] (clipped) -> grey; segmentation: integer class ids -> palette colours
    (resized nearest-neighbour, never blended); edges: uint8 0..255 -> grey. Non-square maps are
    stretched to the square.
    """
    if modality_map.ndim != 2:
        raise ValueError(f"{modality.value} map must be (H, W), got shape {modality_map.shape}")
    if modality is Modality.DEPTH:
        if not np.issubdtype(modality_map.dtype, np.floating):
            raise ValueError(f"depth map must be float in [0, 1], got {modality_map.dtype}")
        grey = np.rint(np.clip(modality_map.astype(np.float32), 0.0, 1.0) * 255.0).astype(np.uint8)
        grey = _resize(grey, cv2.INTER_AREA, cv2.INTER_LINEAR)
    elif modality is Modality.SEGMENTATION:
        if not np.issubdtype(modality_map.dtype, np.integer):
            raise ValueError(f"segmentation map must hold integer class ids, got {modality_map.dtype}")
        labels = _resize(modality_map.astype(np.int32), cv2.INTER_NEAREST, cv2.INTER_NEAREST)
        return segmentation_palette(labels)
    elif modality is Modality.EDGES:
        if modality_map.dtype != np.uint8:
            raise ValueError(f"edges map must be uint8, got {modality_map.dtype}")
        grey = _resize(modality_map, cv2.INTER_AREA, cv2.INTER_LINEAR)
    else:
        raise ValueError(f"{modality.value} is not a spatial modality")
    return np.repeat(grey[:, :, None], 3, axis=2)


def maps_to_vq_input(images: Sequence[np.ndarray]) -> torch.Tensor:
    """B rendered maps, each (256, 256, 3) uint8 -> (B, 3, 256, 256) float32 in [-1, 1]."""
    if not images:
        raise ValueError("maps_to_vq_input needs at least one image")
    for image in images:
        if image.shape != (VQ_INPUT_SIZE, VQ_INPUT_SIZE, 3) or image.dtype != np.uint8:
            raise ValueError(f"expected (256, 256, 3) uint8 images, got {image.shape} {image.dtype}")
    return to_model_range(torch.from_numpy(np.stack(images)).permute(0, 3, 1, 2))


@torch.no_grad()
def encode_to_codes(vq: VQModel, pixels: torch.Tensor) -> torch.Tensor:
    """(B, 3, 256, 256) in [-1, 1] -> (B, 256) int64 codes in [0, 1024), row-major over the 16x16 grid."""
    latents = vq.encode(pixels.to(device=vq.device, dtype=vq.dtype)).latents
    if latents.shape[-2:] != (VQ_GRID, VQ_GRID):
        raise ValueError(f"VQ model produced a {tuple(latents.shape[-2:])} grid, expected {VQ_GRID}x{VQ_GRID}")
    _, _, (_, _, indices) = vq.quantize(latents)
    return indices.reshape(pixels.shape[0], VQ_GRID * VQ_GRID).long()


def codebook_vectors(vq: VQModel, codes: torch.Tensor) -> torch.Tensor:
    """(B, 256) codes -> (B, 256, C) codebook vectors (C = vq_embed_dim), no gradient."""
    with torch.no_grad():
        return vq.quantize.embedding(codes.to(device=vq.device, dtype=torch.long))


@torch.no_grad()
def decode_codes(vq: VQModel, codes: torch.Tensor) -> torch.Tensor:
    """(B, 256) codes -> (B, 3, 256, 256) reconstructed maps (roughly [-1, 1], not clamped)."""
    vectors = codebook_vectors(vq, codes)
    batch, _, channels = vectors.shape
    grid = vectors.reshape(batch, VQ_GRID, VQ_GRID, channels).permute(0, 3, 1, 2).contiguous()
    return vq.decode(grid, force_not_quantize=True).sample
