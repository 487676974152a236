"""uint8 pixels -> the [-1, 1] float range the VAE and UNet work in. A pure torch function."""

from __future__ import annotations

import torch


def to_model_range(pixels: torch.Tensor, dtype: torch.dtype = torch.float32) -> torch.Tensor:
    """uint8 pixels of any shape -> ``dtype`` in [-1, 1] (0 -> -1, 255 -> 1), on ``pixels``' device.

    Move the uint8 tensor to the training device first and scale there: a quarter of the bytes
    cross the host (and the host-to-device copy) compared with scaling on the host.
    """
    if pixels.dtype != torch.uint8:
        raise TypeError(f"expected uint8 pixels, got {pixels.dtype}")
    return pixels.to(dtype).div_(127.5).sub_(1.0)
