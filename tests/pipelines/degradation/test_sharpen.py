from __future__ import annotations

import cv2
import numpy as np
import torch
import torch.nn.functional as F
from skimage import data

from pipelines.degradation.sharpen import usm_sharpen


def _basicsr_usm(image: np.ndarray, weight: float = 0.5, threshold: float = 10.0) -> np.ndarray:
    """BasicSR ``USMSharp.forward`` (dense 51x51 Gaussian, reflect padding) on a float image."""
    gaussian = cv2.getGaussianKernel(51, 0)
    kernel = torch.from_numpy(np.dot(gaussian, gaussian.T)).float()[None, None]
    tensor = torch.from_numpy(image).permute(2, 0, 1)[:, None]

    def blur(x: torch.Tensor) -> torch.Tensor:
        return F.conv2d(F.pad(x, (25, 25, 25, 25), mode="reflect"), kernel)

    residual = tensor - blur(tensor)
    soft = blur((residual.abs() * 255 > threshold).float())
    sharp = torch.clip(tensor + weight * residual, 0, 1)
    return (soft * sharp + (1 - soft) * tensor)[:, 0].permute(1, 2, 0).numpy()


def test_matches_basicsr_usm_sharp() -> None:
    photo = data.astronaut()[200:280, 180:260]
    out = usm_sharpen(photo)
    assert out.dtype == np.float32 and out.shape == photo.shape
    assert np.abs(out - _basicsr_usm(photo.astype(np.float32) / 255.0)).max() < 1e-5
    np.testing.assert_allclose(usm_sharpen(photo.astype(np.float32) / 255.0), out, atol=1e-6)


def test_flat_image_is_unchanged_and_edges_get_steeper() -> None:
    flat = np.full((64, 64, 3), 120, np.uint8)
    np.testing.assert_allclose(usm_sharpen(flat), 120 / 255.0, atol=1e-6)
    step = np.zeros((64, 64, 3), np.uint8)
    step[:, 32:] = 200
    out = usm_sharpen(step)
    assert out[:, 33:36].mean() > 200 / 255.0  # overshoot on the bright side
    assert out.min() >= 0.0 and out.max() <= 1.0
