"""Turn prepared samples and rejected inputs into rows of the feature-store tables."""

from __future__ import annotations

import json
from typing import Any

import cv2
import numpy as np

from featurestore.modality import CAPTION_SOURCE_COLUMN, SPATIAL_MODALITIES, Modality
from featurestore.schema import SCHEMA_VERSION
from pipelines.prepared_sample import PreparedSample, RejectedInput
from pipelines.preprocess_config import PIPELINE_VERSION


def encode_png(pixels: np.ndarray) -> bytes:
    """PNG bytes of (H, W, 3) uint8 RGB or (H, W) uint8/uint16 gray pixels."""
    if pixels.ndim == 3:
        pixels = cv2.cvtColor(pixels, cv2.COLOR_RGB2BGR)
    ok, encoded = cv2.imencode(".png", pixels)
    if not ok:
        raise ValueError(f"PNG encoding failed for an array of shape {pixels.shape} and dtype {pixels.dtype}")
    return encoded.tobytes()


def modality_map_png(modality: Modality, modality_map: np.ndarray) -> bytes:
    """Depth (float 0..1) is stored as 16-bit PNG; segmentation ids as 16-bit; edges as 8-bit."""
    if modality is Modality.DEPTH:
        return encode_png(np.round(np.clip(modality_map, 0.0, 1.0) * 65535.0).astype(np.uint16))
    if modality is Modality.SEGMENTATION:
        return encode_png(modality_map.astype(np.uint16))
    return encode_png(modality_map.astype(np.uint8))


def sample_row(sample: PreparedSample, config_hash: str, extractors: dict[str, str]) -> dict[str, Any]:
    """One row of the samples table (see ``featurestore.schema.SAMPLES_SCHEMA``)."""
    row: dict[str, Any] = {
        "sample_id": sample.sample_id,
        "split": sample.split,
        "source_uri": sample.source_uri,
        "source_sha256": sample.source_sha256,
        "crop_box": list(sample.crop_box),
        "seed": sample.seed,
        "hr_png": encode_png(sample.hr),
        "lr_png": encode_png(sample.lr),
        "scale": sample.scale,
        "degradation": json.dumps(sample.degradation, sort_keys=True),
        "modality_source": sample.modality_source,
        "caption": sample.caption,
        CAPTION_SOURCE_COLUMN: sample.caption_source if sample.caption else None,
        Modality.CAPTION.tokens_column: _token_list(sample.tokens.get(Modality.CAPTION)),
        "extractors": json.dumps(extractors, sort_keys=True),
        "config_hash": config_hash,
        "pipeline_version": PIPELINE_VERSION,
        "schema_version": SCHEMA_VERSION,
    }
    for modality in SPATIAL_MODALITIES:
        found = sample.maps.get(modality)
        row[modality.map_column] = None if found is None else modality_map_png(modality, found)
        row[modality.tokens_column] = _token_list(sample.tokens.get(modality))
    return row


def error_row(rejected: RejectedInput, run_id: str, config_hash: str) -> dict[str, Any]:
    """One row of the errors table (see ``featurestore.schema.ERRORS_SCHEMA``)."""
    return {
        "source_uri": rejected.source_uri,
        "stage": rejected.stage,
        "exception": rejected.exception,
        "message": rejected.message,
        "run_id": run_id,
        "config_hash": config_hash,
        "schema_version": SCHEMA_VERSION,
    }


def _token_list(tokens: np.ndarray | None) -> list[int] | None:
    return None if tokens is None else [int(t) for t in tokens]
