from __future__ import annotations

import base64

import cv2
import numpy as np
import pytest

from orchestration.serving.image_payload import PayloadError, decode_image_payload, encode_image_payload


def _rgb(side: int = 8) -> np.ndarray:
    return np.random.default_rng(0).integers(0, 256, (side, side, 3), dtype=np.uint8)


def test_png_round_trip_and_data_url() -> None:
    rgb = _rgb()
    payload = encode_image_payload(rgb)
    assert np.array_equal(decode_image_payload(payload, 1000), rgb)
    assert np.array_equal(decode_image_payload(f"data:image/png;base64,{payload}", 1000), rgb)


def test_jpeg_is_accepted() -> None:
    ok, jpeg = cv2.imencode(".jpg", _rgb(16))
    assert ok
    assert decode_image_payload(base64.b64encode(jpeg.tobytes()).decode(), 1000).shape == (16, 16, 3)


@pytest.mark.parametrize(
    ("payload", "message"),
    [
        (None, "non-empty base64 string, got NoneType"),
        (12, "non-empty base64 string, got int"),
        ("", "non-empty base64 string"),
        ("***", "not valid base64"),
        (base64.b64encode(b"GIF89a....").decode(), "could not be decoded as an image"),
        (encode_image_payload(np.zeros((40, 40, 3), np.uint8)), "over the limit of 1000"),
        ("A" * 5000, "at most 4096"),
    ],
)
def test_bad_payloads_raise_payload_error_mapped_to_http_400(payload: object, message: str) -> None:
    with pytest.raises(PayloadError, match=message) as caught:
        decode_image_payload(payload, 1000, max_chars=4096)
    assert caught.value.error_code == "INVALID_PARAMETER_VALUE"
    assert caught.value.get_http_status_code() == 400
    assert isinstance(caught.value, ValueError)


def test_only_png_and_jpeg_are_decoded() -> None:
    ok, webp = cv2.imencode(".webp", _rgb())
    assert ok
    with pytest.raises(PayloadError, match="could not be decoded"):
        decode_image_payload(base64.b64encode(webp.tobytes()).decode(), 1000)
