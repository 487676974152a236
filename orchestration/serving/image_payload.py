"""Base64 image payloads of the serving API: strict decoding with clear errors."""

from __future__ import annotations

import base64
import binascii

import numpy as np
from mlflow.exceptions import MlflowException
from mlflow.protos.databricks_pb2 import INVALID_PARAMETER_VALUE

from pipelines.feature_rows import encode_png
from pipelines.image_decoding import DecodeLimits, decode_image

DEFAULT_MAX_PAYLOAD_CHARS = 32 * 1024 * 1024
"""Longest base64 string decoded at all (32 MiB of text, ~24 MiB of PNG/JPEG)."""


class PayloadError(MlflowException, ValueError):
    """The request is not usable (image field or params); the message says why.

    An ``MlflowException`` with ``INVALID_PARAMETER_VALUE``, so the MLflow scoring server answers
    it with HTTP 400 and this message instead of a generic error.
    """

    def __init__(self, message: str) -> None:
        super().__init__(message, error_code=INVALID_PARAMETER_VALUE)


def decode_image_payload(payload: object, max_pixels: int, max_chars: int = DEFAULT_MAX_PAYLOAD_CHARS) -> np.ndarray:
    """base64 PNG/JPEG (optionally a ``data:`` URL) -> (H, W, 3) uint8 RGB, at most max_pixels.

    The pixel count is checked from the image header before any pixel is decoded.
    """
    if not isinstance(payload, str) or not payload:
        raise PayloadError(f"'image' must be a non-empty base64 string, got {type(payload).__name__}")
    if len(payload) > max_chars:
        raise PayloadError(f"'image' is {len(payload)} base64 characters; at most {max_chars} are accepted")
    encoded = payload.split(",", 1)[1] if payload.startswith("data:") else payload
    try:
        data = base64.b64decode(encoded, validate=True)
    except (binascii.Error, ValueError):
        raise PayloadError("'image' is not valid base64") from None
    try:
        return decode_image(data, DecodeLimits(max_pixels=max_pixels, formats=("PNG", "JPEG")))
    except Exception as error:
        raise PayloadError(f"'image' could not be decoded as an image: {error}") from None


def encode_image_payload(pixels: np.ndarray) -> str:
    """(H, W, 3) uint8 RGB -> base64 PNG string."""
    return base64.b64encode(encode_png(pixels)).decode("ascii")
