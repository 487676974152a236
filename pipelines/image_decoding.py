"""Safe decoding of untrusted image bytes into (H, W, 3) uint8 RGB arrays.

Rules, applied to every input:

- Only the formats in :attr:`DecodeLimits.formats` are parsed (Pillow is told to try no other
  plugin), so a GIF or an SVG is rejected before any decoder runs on it; :func:`check_signature`
  does the same check on a file's first bytes, so a reader can refuse a non-image (a video, an
  animated GIF, a HEIC) before reading the rest of it. The error names what the bytes are.
- The pixel count is read from the header and checked against :attr:`DecodeLimits.max_pixels`
  *before* any pixel data is decoded: a decompression bomb raises, it never warns and continues.
- The EXIF orientation tag is applied, so arrays are upright as a viewer would show them.
- Every Pillow mode ends as 8-bit RGB: gray / palette / CMYK / YCbCr are converted; 16-bit gray
  (``I;16*``) is scaled by 255 / 65535 with rounding (never clipped to its low byte); ``I``
  (32-bit int) is read as 16-bit data (values outside 0..65535 are clipped); ``F`` (float) is read
  as 0..1 (clipped, NaN -> 0); any alpha (RGBA, LA, PA, palette or single-colour transparency) is
  composited over white, so transparent regions become white rather than arbitrary hidden colours.
  16-bit RGB(A) PNGs are opened by Pillow as 8-bit (high byte), which is already the right scale.
- Anything that goes wrong becomes one :class:`ImageDecodeError` whose message says why.
"""

from __future__ import annotations

import hashlib
import io
from dataclasses import dataclass
from typing import Literal, get_args

import numpy as np
from PIL import Image, ImageOps, UnidentifiedImageError

ImageFormat = Literal["JPEG", "PNG", "WEBP", "BMP", "TIFF"]
"""Pillow format names we parse. "JPEG" includes the multi-picture JPEGs (MPO) many cameras write."""

ALL_FORMATS: tuple[ImageFormat, ...] = get_args(ImageFormat)
DEFAULT_MAX_PIXELS = 89_478_485
"""Pillow's own ``Image.MAX_IMAGE_PIXELS`` default (about 0.25 GiB of 24-bit pixels)."""

SIGNATURE_BYTES = 16
"""Bytes Pillow looks at to recognise a format (``Image.open`` reads this many)."""

_SIXTEEN_BIT_MODES = frozenset({"I;16", "I;16L", "I;16B", "I;16N"})
_ALPHA_MODES = frozenset({"RGBA", "RGBa", "LA", "La", "PA"})
_UINT16_MAX = 65535


class ImageDecodeError(ValueError):
    """The bytes are not an image we accept; the message says why (format, size, corruption)."""


@dataclass(frozen=True)
class DecodeLimits:
    """What :func:`decode_image` accepts."""

    max_pixels: int = DEFAULT_MAX_PIXELS
    """Largest width * height (from the header) that is decoded; larger inputs raise."""
    formats: tuple[ImageFormat, ...] = ALL_FORMATS
    """Pillow format names that are parsed at all."""

    def __post_init__(self) -> None:
        if self.max_pixels < 1:
            raise ValueError(f"max_pixels must be >= 1, got {self.max_pixels}")
        if not self.formats:
            raise ValueError("formats must name at least one image format")
        unknown = sorted(set(self.formats) - set(ALL_FORMATS))
        if unknown:
            raise ValueError(f"formats has unsupported entries {unknown}; choose from {list(ALL_FORMATS)}")


def content_sha256(data: bytes) -> str:
    """Hex SHA-256 of the raw (encoded) bytes: the content identity of a source image."""
    return hashlib.sha256(data).hexdigest()


def _accepts(accept: object, prefix: bytes) -> bool:
    """A Pillow plugin's ``_accept`` verdict (a returned string is a warning, i.e. not accepted)."""
    verdict = accept(prefix) if callable(accept) else False
    return bool(verdict) and not isinstance(verdict, str)


def identify_format(prefix: bytes) -> str | None:
    """The format the first bytes of a file announce: a Pillow format name (``GIF``, ``PNG``, ...),
    an ISO media brand (``HEIC``, ``AVIF``) or None."""
    Image.init()
    for name, (_, accept) in Image.OPEN.items():
        if _accepts(accept, prefix[:SIGNATURE_BYTES]):
            return name
    if prefix[4:8] == b"ftyp":
        return prefix[8:12].decode("ascii", "replace").strip().upper() or None
    return None


def check_signature(prefix: bytes, limits: DecodeLimits = DecodeLimits()) -> None:
    """Raise :class:`ImageDecodeError` unless the first bytes of a file (at least
    :data:`SIGNATURE_BYTES`) start an image of an accepted format, by Pillow's own checks."""
    Image.init()
    if any(_accepts(Image.OPEN[name][1], prefix[:SIGNATURE_BYTES]) for name in limits.formats if name in Image.OPEN):
        return
    found = identify_format(prefix)
    what = f"a {found} file" if found else f"not an image (starts {prefix[:8]!r})"
    raise ImageDecodeError(f"{what}: not one of the accepted formats {'/'.join(limits.formats)}")


def decode_image(data: bytes, limits: DecodeLimits = DecodeLimits()) -> np.ndarray:
    """Decode encoded image bytes to an upright (H, W, 3) uint8 RGB array.

    Raises :class:`ImageDecodeError` for non-images, formats outside ``limits.formats``, images
    over ``limits.max_pixels`` and truncated or corrupt files.
    """
    try:
        with Image.open(io.BytesIO(data), formats=list(limits.formats)) as image:
            _check_pixel_count(image, limits.max_pixels)
            upright = ImageOps.exif_transpose(image)
            return to_rgb_uint8(upright)
    except ImageDecodeError:
        raise
    except UnidentifiedImageError:
        allowed = "/".join(limits.formats)
        raise ImageDecodeError(f"not a {allowed} image ({len(data)} bytes starting {data[:8]!r})") from None
    except Image.DecompressionBombError as error:
        raise ImageDecodeError(f"decompression bomb rejected: {error}") from None
    except Exception as error:  # Pillow's plugins raise many types (OSError, SyntaxError, struct.error, ...)
        raise ImageDecodeError(f"corrupt or truncated image: {type(error).__name__}: {error}") from None


def _check_pixel_count(image: Image.Image, max_pixels: int) -> None:
    width, height = image.size
    if width * height > max_pixels:
        raise ImageDecodeError(
            f"decompression bomb rejected: {image.format} header says {width}x{height} = "
            f"{width * height} pixels, over the limit of {max_pixels}"
        )


def to_rgb_uint8(image: Image.Image) -> np.ndarray:
    """Any Pillow image -> (H, W, 3) uint8 RGB array, by the rules in the module docstring."""
    if image.mode in _SIXTEEN_BIT_MODES or image.mode == "I":
        values = np.clip(np.asarray(image, dtype=np.int64), 0, _UINT16_MAX)
        gray = ((values * 255 + _UINT16_MAX // 2) // _UINT16_MAX).astype(np.uint8)
        return np.repeat(gray[:, :, None], 3, axis=2)
    if image.mode == "F":
        values = np.clip(np.nan_to_num(np.asarray(image, dtype=np.float64), nan=0.0), 0.0, 1.0)
        gray = np.rint(values * 255.0).astype(np.uint8)
        return np.repeat(gray[:, :, None], 3, axis=2)
    if image.mode in _ALPHA_MODES or "transparency" in image.info:
        return _composite_over_white(np.asarray(image.convert("RGBA"), dtype=np.uint8))
    return np.array(image.convert("RGB"), dtype=np.uint8)


def _composite_over_white(rgba: np.ndarray) -> np.ndarray:
    """(H, W, 4) uint8 straight-alpha RGBA -> (H, W, 3) uint8 RGB over a white background."""
    rgb = rgba[:, :, :3].astype(np.uint32)
    alpha = rgba[:, :, 3:].astype(np.uint32)
    blended = (rgb * alpha + 255 * (255 - alpha) + 127) // 255
    return blended.astype(np.uint8)
