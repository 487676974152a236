"""Gaussian and Poisson (shot) noise of Real-ESRGAN, colour or gray, clipped to [0, 1].

Follows BasicSR ``random_add_gaussian_noise_pt`` / ``random_add_poisson_noise_pt`` with
``clip=True, rounds=False``: Gaussian sigma is in 0..255 units; Poisson noise is
``Poisson(q * vals) / vals - q`` with ``q`` the image rounded to 8 bits and ``vals`` the number of
distinct 8-bit values rounded up to a power of two, times ``scale``. Gray noise is one field
(from the luma for Poisson) added to all three channels. Only the field that is used is drawn.
"""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass
from typing import Any, Literal

import cv2
import numpy as np

from pipelines.degradation.config import NoiseSettings
from pipelines.degradation.pixels import to_uint8
from pipelines.degradation.poisson import draw_poisson_levels

NoiseKind = Literal["gaussian", "poisson"]


@dataclass(frozen=True)
class NoiseSpec:
    """One sampled noise: kind, gray or colour, and its level (``sigma`` or ``scale``)."""

    kind: NoiseKind
    gray: bool
    sigma: float | None = None
    """Gaussian standard deviation in 0..255 units."""
    scale: float | None = None
    """Multiplier of the Poisson noise."""

    def to_params(self) -> dict[str, Any]:
        """JSON-serialisable record of the noise, ``None`` fields dropped."""
        return {key: value for key, value in dataclasses.asdict(self).items() if value is not None}


def draw_noise(settings: NoiseSettings, rng: np.random.Generator) -> NoiseSpec:
    """Gaussian with ``gaussian_noise_prob`` else Poisson; level uniform in its range; gray by ``gray_noise_prob``."""
    if rng.uniform() < settings.gaussian_noise_prob:
        sigma = float(rng.uniform(*settings.noise_range))
        return NoiseSpec("gaussian", gray=bool(rng.uniform() < settings.gray_noise_prob), sigma=sigma)
    scale = float(rng.uniform(*settings.poisson_scale_range))
    return NoiseSpec("poisson", gray=bool(rng.uniform() < settings.gray_noise_prob), scale=scale)


def add_noise(image: np.ndarray, spec: NoiseSpec, rng: np.random.Generator) -> np.ndarray:
    """Apply ``spec`` to (H, W, 3) float32 RGB ``image``; returns a new clipped float32 image."""
    if spec.kind == "gaussian":
        return add_gaussian_noise(image, _level(spec.sigma), spec.gray, rng)
    return add_poisson_noise(image, _level(spec.scale), spec.gray, rng)


def _level(value: float | None) -> float:
    if value is None:
        raise ValueError("noise spec is missing its level")
    return value


def add_gaussian_noise(image: np.ndarray, sigma: float, gray: bool, rng: np.random.Generator) -> np.ndarray:
    """``clip(image + N(0, (sigma / 255)^2), 0, 1)`` for (H, W, C) float32 ``image``.

    ``gray``: one (H, W) field shared by all channels.
    """
    height, width = image.shape[:2]
    shape = (height, width, 1) if gray else image.shape
    noisy = rng.standard_normal(shape, dtype=np.float32)
    noisy *= np.float32(sigma / 255.0)
    noisy = noisy + image if gray else np.add(noisy, image, out=noisy)
    return np.clip(noisy, 0.0, 1.0, out=noisy)


def _shot_noise(levels: np.ndarray, scale: float, rng: np.random.Generator) -> np.ndarray:
    """float32 ``scale * (Poisson(q * vals) / vals - q)`` for uint8 levels ``q * 255`` of any shape."""
    distinct = int(np.count_nonzero(np.bincount(levels.ravel(), minlength=256)))
    vals = 2 ** math.ceil(math.log2(distinct))
    noise = draw_poisson_levels(levels, vals, rng).astype(np.float32)
    noise *= np.float32(scale / vals)
    noise -= cv2.LUT(levels, np.arange(256, dtype=np.float32) * np.float32(scale / 255.0)).reshape(levels.shape)
    return noise


def add_poisson_noise(image: np.ndarray, scale: float, gray: bool, rng: np.random.Generator) -> np.ndarray:
    """``clip(image + scale * shot_noise, 0, 1)`` for (H, W, 3) float32 RGB ``image``.

    ``gray``: the shot noise of the (rounded) luma, shared by all channels.
    """
    if gray:
        luma = cv2.cvtColor(image, cv2.COLOR_RGB2GRAY)
        noisy = _shot_noise(to_uint8(luma), scale, rng)[:, :, None] + image
    else:
        noisy = _shot_noise(to_uint8(image), scale, rng)
        noisy += image
    return np.clip(noisy, 0.0, 1.0, out=noisy)
