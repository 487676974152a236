"""JPEG compression artifacts through a real encoder (libjpeg via ``cv2.imencode``).

Real-ESRGAN uses DiffJPEG (a torch re-implementation of baseline JPEG with 4:2:0 chroma
subsampling); this is the real codec with the same subsampling, so quality is an integer.
"""

from __future__ import annotations

import cv2
import numpy as np

from pipelines.degradation.pixels import to_float, to_uint8


def draw_jpeg_quality(quality_range: tuple[int, int], rng: np.random.Generator) -> int:
    """Integer quality drawn uniformly from the inclusive ``quality_range``."""
    return int(rng.integers(quality_range[0], quality_range[1], endpoint=True))


def jpeg_compress(image: np.ndarray, quality: int) -> np.ndarray:
    """Encode and decode (H, W, 3) RGB ``image`` as JPEG at ``quality`` (1..100).

    Args:
        image: float32 in [0, 1] (clamped, then rounded to uint8 like any JPEG input) or uint8.

    Returns:
        float32 (H, W, 3) RGB in [0, 1].
    """
    if not 1 <= quality <= 100:
        raise ValueError(f"quality must be in [1, 100], got {quality}")
    pixels = image if image.dtype == np.uint8 else to_uint8(image)
    bgr = cv2.cvtColor(pixels, cv2.COLOR_RGB2BGR)
    params = [
        cv2.IMWRITE_JPEG_QUALITY,
        int(quality),
        cv2.IMWRITE_JPEG_SAMPLING_FACTOR,
        cv2.IMWRITE_JPEG_SAMPLING_FACTOR_420,
    ]
    ok, encoded = cv2.imencode(".jpg", bgr, params)
    if not ok:
        raise RuntimeError("OpenCV failed to encode a JPEG")
    decoded = cv2.imdecode(encoded, cv2.IMREAD_COLOR)
    return to_float(cv2.cvtColor(decoded, cv2.COLOR_BGR2RGB))
