"""Depth Anything / DPT input pixels for a whole batch at once, in torch, on the model's device.

Does what the checkpoint's image processor (``preprocessor_config.json``) does image by image
with PIL: resize (bicubic, antialiased, optionally keeping the aspect ratio, each side a multiple
of ``ensure_multiple_of``), rescale to [0, 1] and normalise with the ImageNet mean / std.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import torch
import torch.nn.functional as F


@dataclass(frozen=True)
class DepthInputSpec:
    """The resize and normalisation a DPT-style processor applies (read from its config)."""

    height: int
    width: int
    keep_aspect_ratio: bool
    multiple: int
    rescale_factor: float
    mean: tuple[float, float, float]
    std: tuple[float, float, float]

    @classmethod
    def from_processor(cls, processor: Any) -> DepthInputSpec:
        """Read a loaded DPT image processor's settings; ValueError for ones this module does not do."""
        for flag, wanted in (("do_resize", True), ("do_rescale", True), ("do_normalize", True), ("do_pad", False)):
            if bool(getattr(processor, flag, wanted)) != wanted:
                raise ValueError(f"depth model's image processor must have {flag}={wanted}")
        size = processor.size
        return cls(
            height=int(size["height"]), width=int(size["width"]), keep_aspect_ratio=bool(processor.keep_aspect_ratio),
            multiple=int(processor.ensure_multiple_of or 1), rescale_factor=float(processor.rescale_factor),
            mean=tuple(float(v) for v in processor.image_mean),  # type: ignore[arg-type]
            std=tuple(float(v) for v in processor.image_std),  # type: ignore[arg-type]
        )


def _to_multiple(value: float, multiple: int) -> int:
    """``value`` rounded to a multiple of ``multiple`` (never 0), as the DPT processor does."""
    rounded = round(value / multiple) * multiple
    return rounded if rounded > 0 else math.ceil(value / multiple) * multiple


def resized_size(spec: DepthInputSpec, height: int, width: int) -> tuple[int, int]:
    """(height, width) the processor resizes a ``height`` x ``width`` image to."""
    scale_h, scale_w = spec.height / height, spec.width / width
    if spec.keep_aspect_ratio:  # scale as little as possible
        scale_h = scale_w = scale_w if abs(1 - scale_w) < abs(1 - scale_h) else scale_h
    return _to_multiple(scale_h * height, spec.multiple), _to_multiple(scale_w * width, spec.multiple)


def depth_pixel_values(images: torch.Tensor, spec: DepthInputSpec) -> torch.Tensor:
    """(N, H, W, 3) uint8 RGB -> (N, 3, h, w) float32 model input, h x w from :func:`resized_size`."""
    if images.ndim != 4 or images.shape[-1] != 3 or images.dtype != torch.uint8:
        raise ValueError(f"images must be (N, H, W, 3) uint8, got {tuple(images.shape)} {images.dtype}")
    size = resized_size(spec, images.shape[1], images.shape[2])
    pixels = images.permute(0, 3, 1, 2).float()
    if size != tuple(images.shape[1:3]):
        pixels = F.interpolate(pixels, size=size, mode="bicubic", align_corners=False, antialias=True)
    pixels = pixels.clamp_(0.0, 255.0).mul_(spec.rescale_factor)
    mean = torch.tensor(spec.mean, device=pixels.device).view(1, 3, 1, 1)
    std = torch.tensor(spec.std, device=pixels.device).view(1, 3, 1, 1)
    return (pixels - mean) / std
