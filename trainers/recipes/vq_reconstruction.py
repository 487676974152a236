"""Reconstruction error of the VQ tokenizer, per modality. Pure numpy functions.

Every map is compared as the tokenizer sees it: the (256, 256, 3) uint8 rendering
(``render_modality_map``) against the decoder's output clipped and rounded back to uint8.

- ``mse`` (every modality): mean squared error over pixels and channels, in [0, 1] units.
- ``pixel_accuracy`` (edges): share of pixels whose edge / no-edge state (gray >= 128) matches;
  ``edge_f1`` (edges): F1 of the edge pixels (accuracy alone is dominated by the background).
- ``pixel_accuracy`` (segmentation): the reconstruction is re-rendered to class ids by taking, per
  pixel, the nearest palette colour among the classes present in the reference map; the share of
  pixels whose class matches.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping

import numpy as np

from featurestore.modality import Modality
from pipelines.modality_codes import segmentation_palette

EDGE_THRESHOLD = 128
"""Gray level from which a rendered edge-map pixel counts as an edge."""


def reconstruction_to_rgb(decoded: np.ndarray) -> np.ndarray:
    """(N, 3, H, W) float decoder output in [-1, 1] (clipped) -> (N, H, W, 3) uint8."""
    pixels = np.clip((np.asarray(decoded, dtype=np.float32) + 1.0) * 127.5, 0.0, 255.0)
    return np.rint(pixels).astype(np.uint8).transpose(0, 2, 3, 1)


def map_mse(reference: np.ndarray, reconstructed: np.ndarray) -> np.ndarray:
    """(N, H, W, 3) uint8 pairs -> (N,) float64 mean squared error in [0, 1] units."""
    _check_pair(reference, reconstructed)
    difference = (reference.astype(np.float64) - reconstructed.astype(np.float64)) / 255.0
    return np.mean(difference**2, axis=(1, 2, 3))


def _edges(rendered: np.ndarray) -> np.ndarray:
    return rendered.astype(np.float32).mean(axis=-1) >= EDGE_THRESHOLD


def edge_pixel_accuracy(reference: np.ndarray, reconstructed: np.ndarray) -> np.ndarray:
    """(N, H, W, 3) uint8 pairs of rendered edge maps -> (N,) share of pixels with the same edge state."""
    _check_pair(reference, reconstructed)
    return np.mean(_edges(reference) == _edges(reconstructed), axis=(1, 2))


def edge_f1(reference: np.ndarray, reconstructed: np.ndarray) -> np.ndarray:
    """(N, H, W, 3) uint8 pairs of rendered edge maps -> (N,) F1 of edge pixels (1.0 if both have none)."""
    _check_pair(reference, reconstructed)
    truth, found = _edges(reference), _edges(reconstructed)
    hits = np.sum(truth & found, axis=(1, 2)).astype(np.float64)
    total = np.sum(truth, axis=(1, 2)) + np.sum(found, axis=(1, 2))
    return np.where(total == 0, 1.0, 2.0 * hits / np.maximum(total, 1))


def palette_ids(rgb: np.ndarray) -> np.ndarray:
    """(..., 3) uint8 colours of ``segmentation_palette`` -> (...) int64 class ids (its exact inverse)."""
    colours = rgb.astype(np.int64)
    ids = np.zeros(rgb.shape[:-1], dtype=np.int64)
    for bit in range(8):
        for channel in range(3):
            ids |= ((colours[..., channel] >> (7 - bit)) & 1) << (3 * bit + channel)
    return ids


def nearest_palette_ids(rgb: np.ndarray, candidate_ids: np.ndarray) -> np.ndarray:
    """(H, W, 3) uint8 colours -> (H, W) int64: per pixel, the candidate class whose palette colour
    is nearest (Euclidean RGB; ties go to the first candidate)."""
    candidates = np.asarray(candidate_ids, dtype=np.int64).reshape(-1)
    palette = segmentation_palette(candidates).astype(np.float32)  # (K, 3)
    pixels = rgb.reshape(-1, 3).astype(np.float32)
    distances = ((pixels[:, None, :] - palette[None, :, :]) ** 2).sum(axis=-1)  # (H*W, K)
    return candidates[np.argmin(distances, axis=1)].reshape(rgb.shape[:-1])


def segmentation_pixel_accuracy(reference: np.ndarray, reconstructed: np.ndarray) -> np.ndarray:
    """(N, H, W, 3) uint8 pairs of rendered segmentation maps -> (N,) share of pixels whose
    re-rendered class (nearest palette colour among the reference's classes) matches."""
    _check_pair(reference, reconstructed)
    scores = np.empty(len(reference), dtype=np.float64)
    for index, (truth_rgb, found_rgb) in enumerate(zip(reference, reconstructed)):
        truth = palette_ids(truth_rgb)
        found = nearest_palette_ids(found_rgb, np.unique(truth))
        scores[index] = np.mean(truth == found)
    return scores


def reconstruction_errors(modality: Modality, reference: np.ndarray, reconstructed: np.ndarray) -> dict[str, np.ndarray]:
    """Per-image errors of N maps of one modality: metric name -> (N,) float64 (see module doc)."""
    errors = {"mse": map_mse(reference, reconstructed)}
    if modality is Modality.EDGES:
        errors["pixel_accuracy"] = edge_pixel_accuracy(reference, reconstructed)
        errors["edge_f1"] = edge_f1(reference, reconstructed)
    elif modality is Modality.SEGMENTATION:
        errors["pixel_accuracy"] = segmentation_pixel_accuracy(reference, reconstructed)
    elif modality is not Modality.DEPTH:
        raise ValueError(f"{modality.value} is not a spatial modality")
    return errors


def mean_errors(per_batch: Iterable[Mapping[Modality, Mapping[str, np.ndarray]]], prefix: str = "eval") -> dict[str, float]:
    """Per-image errors of several batches -> ``{"<prefix>/<modality>/<metric>": mean over images}``
    plus ``"<prefix>/<modality>/count"``; modalities never seen are absent."""
    gathered: dict[tuple[Modality, str], list[np.ndarray]] = {}
    for batch in per_batch:
        for modality, errors in batch.items():
            for metric, values in errors.items():
                gathered.setdefault((modality, metric), []).append(np.asarray(values, dtype=np.float64))
    out: dict[str, float] = {}
    for (modality, metric), chunks in sorted(gathered.items(), key=lambda item: (item[0][0].value, item[0][1])):
        values = np.concatenate(chunks)
        out[f"{prefix}/{modality.value}/{metric}"] = float(values.mean())
        out[f"{prefix}/{modality.value}/count"] = float(values.size)
    return out


def _check_pair(reference: np.ndarray, reconstructed: np.ndarray) -> None:
    if reference.shape != reconstructed.shape or reference.ndim != 4 or reference.shape[-1] != 3:
        raise ValueError(f"expected two (N, H, W, 3) arrays of one shape, got {reference.shape} and {reconstructed.shape}")
