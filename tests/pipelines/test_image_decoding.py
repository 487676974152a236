from __future__ import annotations

import hashlib
import io
import struct
import zlib

import cv2
import numpy as np
import pytest
from PIL import Image

from pipelines.image_decoding import (
    SIGNATURE_BYTES,
    DecodeLimits,
    ImageDecodeError,
    check_signature,
    content_sha256,
    decode_image,
    identify_format,
)


def encode(image: Image.Image, fmt: str, **params: object) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, fmt, **params)
    return buffer.getvalue()


def png_header_only(width: int, height: int) -> bytes:
    """A 1-bit gray PNG whose header claims width x height; a few dozen bytes on disk."""

    def chunk(kind: bytes, body: bytes) -> bytes:
        return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))

    header = struct.pack(">IIBBBBB", width, height, 1, 0, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", zlib.compress(b"\x00")) + chunk(b"IEND", b"")


def test_rgb_png_round_trips_exactly() -> None:
    pixels = np.random.default_rng(0).integers(0, 256, (17, 23, 3), dtype=np.uint8)
    decoded = decode_image(encode(Image.fromarray(pixels), "PNG"))
    assert decoded.dtype == np.uint8
    np.testing.assert_array_equal(decoded, pixels)


def test_gray_becomes_three_equal_channels() -> None:
    gray = np.arange(64, dtype=np.uint8).reshape(8, 8) * 4
    decoded = decode_image(encode(Image.fromarray(gray, mode="L"), "PNG"))
    assert decoded.shape == (8, 8, 3)
    for channel in range(3):
        np.testing.assert_array_equal(decoded[:, :, channel], gray)


def test_la_alpha_is_composited_over_white() -> None:
    la = np.array([[[0, 0], [0, 255], [100, 128]]], dtype=np.uint8)  # (1, 3, 2): L, A
    decoded = decode_image(encode(Image.fromarray(la, mode="LA"), "PNG"))
    expected_mid = (100 * 128 + 255 * 127 + 127) // 255
    np.testing.assert_array_equal(decoded[0, :, 0], [255, 0, expected_mid])


def test_rgba_alpha_is_composited_over_white() -> None:
    rgba = np.array([[[255, 0, 0, 255], [255, 0, 0, 0], [0, 0, 255, 255]]], dtype=np.uint8)
    decoded = decode_image(encode(Image.fromarray(rgba, mode="RGBA"), "PNG"))
    np.testing.assert_array_equal(decoded[0], [[255, 0, 0], [255, 255, 255], [0, 0, 255]])


def test_palette_with_transparent_index_becomes_white() -> None:
    palette_image = Image.new("P", (2, 1))
    palette_image.putpalette([0, 0, 0, 255, 0, 0] + [0, 0, 0] * 254)
    palette_image.putdata([0, 1])
    decoded = decode_image(encode(palette_image, "PNG", transparency=0))
    np.testing.assert_array_equal(decoded[0], [[255, 255, 255], [255, 0, 0]])


def test_sixteen_bit_gray_png_is_scaled_not_clipped() -> None:
    values = np.array([[0, 257, 1000, 32768, 65535]], dtype=np.uint16)
    data = encode(Image.fromarray(values), "PNG")
    assert Image.open(io.BytesIO(data)).mode.startswith("I;16")
    decoded = decode_image(data)
    np.testing.assert_array_equal(decoded[0, :, 0], [0, 1, 4, 128, 255])


def test_sixteen_bit_rgb_png_from_opencv_keeps_colours() -> None:
    bgr = np.zeros((4, 4, 3), dtype=np.uint16)
    bgr[..., 2] = 65535  # red
    bgr[..., 1] = 257 * 100  # green
    ok, encoded = cv2.imencode(".png", bgr)
    assert ok
    decoded = decode_image(encoded.tobytes())
    np.testing.assert_array_equal(decoded[0, 0], [255, 100, 0])


def test_cmyk_jpeg_becomes_rgb() -> None:
    cmyk_red = Image.new("CMYK", (16, 16), (0, 255, 255, 0))
    decoded = decode_image(encode(cmyk_red, "JPEG", quality=95))
    assert decoded.shape == (16, 16, 3)
    np.testing.assert_allclose(decoded.reshape(-1, 3).mean(axis=0), [255, 0, 0], atol=6)


def test_int32_and_float_tiffs_use_their_documented_ranges() -> None:
    ints = np.array([[-5, 257, 65535, 70000]], dtype=np.int32)
    decoded = decode_image(encode(Image.fromarray(ints, mode="I"), "TIFF"))
    np.testing.assert_array_equal(decoded[0, :, 0], [0, 1, 255, 255])
    floats = np.array([[0.0, 0.5, 2.0, np.nan]], dtype=np.float32)
    decoded = decode_image(encode(Image.fromarray(floats, mode="F"), "TIFF"))
    np.testing.assert_array_equal(decoded[0, :, 0], [0, 128, 255, 0])


def test_exif_orientation_is_applied() -> None:
    stored = np.zeros((20, 40, 3), dtype=np.uint8)  # 20 tall, 40 wide as stored
    stored[:10, :10] = (255, 0, 0)  # red block at the stored top-left
    exif = Image.Exif()
    exif[0x0112] = 6  # "rotate 90 degrees clockwise to display"
    data = encode(Image.fromarray(stored), "JPEG", quality=95, exif=exif.tobytes())
    decoded = decode_image(data)
    assert decoded.shape == (40, 20, 3)
    top_right, top_left = decoded[:8, -8:].mean(axis=(0, 1)), decoded[:8, :8].mean(axis=(0, 1))
    assert top_right[0] > 200 and top_right[1] < 40
    assert top_left.max() < 40


def test_truncated_file_raises() -> None:
    pixels = np.random.default_rng(1).integers(0, 256, (64, 64, 3), dtype=np.uint8)
    data = encode(Image.fromarray(pixels), "JPEG")
    with pytest.raises(ImageDecodeError, match="truncated"):
        decode_image(data[: len(data) // 2])


def test_non_image_bytes_raise_with_the_allowed_formats() -> None:
    with pytest.raises(ImageDecodeError, match="not a JPEG/PNG/WEBP/BMP/TIFF image"):
        decode_image(b"hello, this is not an image")


def test_gif_is_not_an_allowed_format() -> None:
    gif = encode(Image.new("RGB", (8, 8), (0, 128, 0)), "GIF")
    with pytest.raises(ImageDecodeError, match="not a JPEG"):
        decode_image(gif)


def test_format_allowlist_is_configurable() -> None:
    jpeg = encode(Image.new("RGB", (8, 8)), "JPEG")
    with pytest.raises(ImageDecodeError, match="not a PNG image"):
        decode_image(jpeg, DecodeLimits(formats=("PNG",)))


@pytest.mark.filterwarnings("ignore::PIL.Image.DecompressionBombWarning")
@pytest.mark.parametrize("side", [10_000, 20_000])
def test_decompression_bomb_raises_before_decoding(side: int) -> None:
    data = png_header_only(side, side)
    assert len(data) < 100
    with pytest.raises(ImageDecodeError, match="decompression bomb"):
        decode_image(data)


def test_pixel_limit_is_configurable() -> None:
    data = encode(Image.new("RGB", (20, 20)), "PNG")
    assert decode_image(data, DecodeLimits(max_pixels=400)).shape == (20, 20, 3)
    with pytest.raises(ImageDecodeError, match="20x20 = 400 pixels, over the limit of 399"):
        decode_image(data, DecodeLimits(max_pixels=399))


def test_decode_limits_are_validated() -> None:
    with pytest.raises(ValueError, match="max_pixels"):
        DecodeLimits(max_pixels=0)
    with pytest.raises(ValueError, match="formats"):
        DecodeLimits(formats=("GIF",))  # type: ignore[arg-type]


def test_content_sha256_is_the_hex_digest_of_the_bytes() -> None:
    assert content_sha256(b"abc") == hashlib.sha256(b"abc").hexdigest()
    assert content_sha256(b"abc") != content_sha256(b"abd")


@pytest.mark.parametrize("fmt", ["PNG", "JPEG", "WEBP", "BMP", "TIFF"])
def test_accepted_formats_pass_the_signature_check(fmt: str) -> None:
    data = encode(Image.new("RGB", (8, 8), "red"), fmt)
    check_signature(data[:SIGNATURE_BYTES])  # no error
    assert identify_format(data[:SIGNATURE_BYTES]) in (fmt, "MPO")


@pytest.mark.parametrize(
    ("prefix", "named"),
    [
        (encode(Image.new("RGB", (8, 8), "red"), "GIF"), "a GIF file"),
        (b"\0\0\0\x18ftypheic" + bytes(8), "a HEIC file"),
        (b"\0\0\0\x1cftypavif" + bytes(8), "a AVIF file"),
        (b"plain text, not pixels", "not an image (starts b'plain te')"),
    ],
)
def test_other_formats_fail_the_signature_check_naming_what_they_are(prefix: bytes, named: str) -> None:
    with pytest.raises(ImageDecodeError, match=r"not one of the accepted formats JPEG/PNG/WEBP/BMP/TIFF") as raised:
        check_signature(prefix[:SIGNATURE_BYTES])
    assert str(raised.value).startswith(named)
