"""Base64 image payloads of the serving API: strict decoding with clear errors."""

from __future__ import annotations

import base64
import binascii

import numpy as np

from pipelines.feature_rows import encode_png
from pipelines.image_decoding import DecodeLimits, decode_image


class PayloadError(ValueError):
    """The request's image field is not a usable image; the message says why."""


def decode_image_payload(payload: object, max_pixels: int) -> np.ndarray:
    """base64 PNG/JPEG (optionally a ``data:`` URL) -> (H, W, 3) uint8 RGB, at most max_pixels."""
    if not isinstance(payload, str) or not payload:
        raise PayloadError(f"'image' must be a non-empty base64 string, got {type(payload).__name__}")
    encoded = payload.split(",", 1)[1] if payload.startswith("data:") else payload
    try:
        data = base64.b64decode(encoded, validate=True)
    except (binascii.Error, ValueError):
        raise PayloadError("'image' is not valid base64") from None
    try:
        return decode_image(data, DecodeLimits(max_pixels=max_pixels))
    except Exception as error:
        raise PayloadError(f"'image' could not be decoded as an image: {error}") from None


def encode_image_payload(pixels: np.ndarray) -> str:
    """(H, W, 3) uint8 RGB -> base64 PNG string."""
    return base64.b64encode(encode_png(pixels)).decode("ascii")
