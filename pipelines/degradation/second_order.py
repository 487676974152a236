"""Real-ESRGAN's second-order degradation: HR (H, W, 3) uint8 -> LR (H / s, W / s, 3) uint8.

Order, sampling and clamping follow ``RealESRGANModel.feed_data`` (and the kernels of
``RealESRGANDataset``), one image at a time on the CPU:

1. optional USM sharpening of the HR (Real-ESRGAN degrades ``gt_usm``);
2. first stage: blur -> random resize -> noise (clipped) -> JPEG;
3. second stage: blur with ``second_blur_prob`` -> random resize relative to H / s -> noise;
4. with probability 1/2 [resize to H / s + final sinc, JPEG], otherwise [JPEG, resize + sinc];
   the final sinc is applied with ``final_sinc_prob`` (else it is the identity pulse);
5. ``clamp(round(out * 255), 0, 255)``.

Every random draw comes from the ``rng`` passed in and is recorded in ``params``. Work is in
float32 [0, 1]; each step matches its torch counterpart (see the step modules; blurs within
``filtering.FILTER_TOLERANCE``) except that the first random resize goes by output size ``floor(H * s)`` where
Real-ESRGAN passes ``scale_factor=s`` (sampling positions differ by < 0.05 px) and JPEG uses the
real codec at an integer quality where DiffJPEG takes a float.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal

import numpy as np

from pipelines.degradation.config import DegradationConfig
from pipelines.degradation.filtering import filter2d
from pipelines.degradation.jpeg import draw_jpeg_quality, jpeg_compress
from pipelines.degradation.kernels import draw_blur_kernel, draw_final_sinc, kernel_from_spec
from pipelines.degradation.noise import add_noise, draw_noise
from pipelines.degradation.pixels import to_float, to_uint8
from pipelines.degradation.resize import draw_random_resize, draw_resize_mode, resize, scaled_size
from pipelines.degradation.sharpen import usm_sharpen

FinalOrder = Literal["resize_sinc_then_jpeg", "jpeg_then_resize_sinc"]


@dataclass(frozen=True)
class DegradationResult:
    """The degraded LR image and every choice that produced it."""

    lr: np.ndarray
    """(H / scale, W / scale, 3) uint8 RGB."""
    params: dict[str, Any]
    """JSON-serialisable record of every sampled choice (kernels, resizes, noises, qualities, order)."""


@dataclass(frozen=True)
class _StageOutput:
    image: np.ndarray
    params: dict[str, Any]


def degrade(hr: np.ndarray, config: DegradationConfig, rng: np.random.Generator) -> DegradationResult:
    """Degrade one HR image with Real-ESRGAN's second-order model.

    Args:
        hr: (H, W, 3) uint8 RGB, H and W divisible by ``config.scale``.
        config: degradation settings.
        rng: source of every random draw; the same generator state gives the same bytes.

    Returns:
        :class:`DegradationResult` with the (H / scale, W / scale, 3) uint8 LR and its params.
    """
    _check_hr(hr, config.scale)
    height, width = hr.shape[:2]
    lr_size = (height // config.scale, width // config.scale)
    image = usm_sharpen(hr) if config.usm_sharpen else to_float(hr)
    first = _first_stage(image, config, rng)
    second = _second_stage(first.image, config, lr_size, rng)
    final = _final_stage(second.image, config, lr_size, rng)
    params = {
        "scale": config.scale,
        "hr_size": [height, width],
        "usm_sharpen": config.usm_sharpen,
        "first": first.params,
        "second": second.params,
        "final": final.params,
    }
    return DegradationResult(lr=to_uint8(final.image), params=params)


def _check_hr(hr: np.ndarray, scale: int) -> None:
    if hr.dtype != np.uint8 or hr.ndim != 3 or hr.shape[2] != 3:
        raise ValueError(f"hr must be (H, W, 3) uint8, got shape {hr.shape} dtype {hr.dtype}")
    if hr.shape[0] % scale or hr.shape[1] % scale or hr.shape[0] < scale or hr.shape[1] < scale:
        raise ValueError(f"hr height and width must be positive multiples of scale={scale}, got {hr.shape[:2]}")


def _first_stage(image: np.ndarray, config: DegradationConfig, rng: np.random.Generator) -> _StageOutput:
    """Blur -> random resize (relative to the HR size) -> noise -> JPEG."""
    kernel = draw_blur_kernel(config.blur_settings(1), rng)
    image = filter2d(image, kernel_from_spec(kernel))
    resize_spec = draw_random_resize(config.resize_settings(1), rng)
    size = scaled_size(image.shape[0], image.shape[1], resize_spec.scale)
    image = resize(image, size, resize_spec.mode)
    noise = draw_noise(config.noise_settings(1), rng)
    image = add_noise(image, noise, rng)
    quality = draw_jpeg_quality(config.jpeg_range, rng)
    image = jpeg_compress(image, quality)
    params = {
        "blur": kernel.to_params(),
        "resize": {**resize_spec.to_params(), "size": list(size)},
        "noise": noise.to_params(),
        "jpeg_quality": quality,
    }
    return _StageOutput(image, params)


def _second_stage(
    image: np.ndarray, config: DegradationConfig, lr_size: tuple[int, int], rng: np.random.Generator
) -> _StageOutput:
    """Optional blur -> random resize (relative to the LR size) -> noise."""
    blur_params = None
    if rng.uniform() < config.second_blur_prob:
        kernel = draw_blur_kernel(config.blur_settings(2), rng)
        image = filter2d(image, kernel_from_spec(kernel))
        blur_params = kernel.to_params()
    resize_spec = draw_random_resize(config.resize_settings(2), rng)
    size = scaled_size(lr_size[0], lr_size[1], resize_spec.scale)
    image = resize(image, size, resize_spec.mode)
    noise = draw_noise(config.noise_settings(2), rng)
    image = add_noise(image, noise, rng)
    params = {
        "blur": blur_params,
        "resize": {**resize_spec.to_params(), "size": list(size)},
        "noise": noise.to_params(),
    }
    return _StageOutput(image, params)


def _final_stage(
    image: np.ndarray, config: DegradationConfig, lr_size: tuple[int, int], rng: np.random.Generator
) -> _StageOutput:
    """[resize to the LR size + sinc, JPEG] or [JPEG, resize + sinc], each order with probability 1/2."""
    order: FinalOrder = "resize_sinc_then_jpeg" if rng.uniform() < 0.5 else "jpeg_then_resize_sinc"
    mode = draw_resize_mode(config.resize_modes, rng)
    sinc = draw_final_sinc(config.kernel_size_range, rng) if rng.uniform() < config.final_sinc_prob else None
    quality = draw_jpeg_quality(config.jpeg_range2, rng)
    if order == "jpeg_then_resize_sinc":
        image = jpeg_compress(image, quality)
    image = resize(image, lr_size, mode)
    if sinc is not None:
        image = filter2d(image, kernel_from_spec(sinc))
    if order == "resize_sinc_then_jpeg":
        image = jpeg_compress(image, quality)
    params = {
        "order": order,
        "resize_mode": mode,
        "sinc": None if sinc is None else sinc.to_params(),
        "jpeg_quality": quality,
    }
    return _StageOutput(image, params)
