"""Decode a stored modality-map PNG (``pipelines.feature_rows.modality_map_png``) back to its map.

Training (``trainers.data.modality_map_batches``) and the contact sheet (``pipelines.sheet_cells``) both
read the stored maps, so the decoding sits below them.
"""

from __future__ import annotations

import cv2
import numpy as np

from featurestore.modality import Modality


def decode_modality_png(blob: bytes, modality: Modality) -> np.ndarray:
    """PNG bytes of one stored map -> the (H, W) map ``render_modality_map`` takes.

    depth: float32 in [0, 1] (integer gray divided by its dtype's maximum); segmentation: int32
    class ids; edges: uint8. Raises ValueError for undecodable or non-gray PNGs.
    """
    raw = cv2.imdecode(np.frombuffer(blob, dtype=np.uint8), cv2.IMREAD_UNCHANGED)
    if raw is None or raw.ndim != 2:
        shape = None if raw is None else raw.shape
        raise ValueError(f"{modality.map_column} is not a decodable gray PNG (decoded shape {shape})")
    if modality is Modality.DEPTH:
        return raw.astype(np.float32) / float(np.iinfo(raw.dtype).max)
    if modality is Modality.SEGMENTATION:
        return raw.astype(np.int32)
    if modality is Modality.EDGES:
        if raw.dtype != np.uint8:
            raise ValueError(f"{modality.map_column} must be an 8-bit PNG, got {raw.dtype}")
        return raw
    raise ValueError(f"{modality.value} is not a spatial modality")
