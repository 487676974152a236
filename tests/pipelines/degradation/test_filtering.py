from __future__ import annotations

import cv2
import numpy as np
import pytest
import torch
import torch.nn.functional as F

from pipelines.degradation.filtering import FILTER_TOLERANCE, filter2d, separable_terms, trim_kernel
from pipelines.degradation.kernels import (
    bivariate_gaussian,
    bivariate_plateau,
    circular_lowpass_kernel,
)


def _reference(image: np.ndarray, kernel: np.ndarray) -> np.ndarray:
    return cv2.filter2D(image, -1, kernel.astype(np.float32), borderType=cv2.BORDER_REFLECT_101)


KERNELS = {
    "iso21": bivariate_gaussian(21, 2.0, 2.0, 0.0),
    "aniso21": bivariate_gaussian(21, 3.0, 0.4, 0.7),
    "plateau15": bivariate_plateau(15, 1.2, 0.6, -1.0, 1.6),
    "sinc21": circular_lowpass_kernel(np.pi / 4, 21),
    "random13": np.random.default_rng(3).random((13, 13)),
    "tiny3": bivariate_gaussian(3, 0.2, 0.2, 0.0),
}


@pytest.mark.parametrize("name", KERNELS)
def test_matches_dense_opencv_filter_within_tolerance(name: str) -> None:
    kernel = KERNELS[name] / KERNELS[name].sum()
    image = np.random.default_rng(0).random((61, 47, 3), dtype=np.float32)
    out = filter2d(image, kernel)
    assert out.shape == image.shape and out.dtype == np.float32
    assert np.abs(out - _reference(image, kernel)).max() <= FILTER_TOLERANCE + 1e-6


def test_matches_basicsr_reflect_pad_conv2d() -> None:
    kernel = KERNELS["aniso21"]
    image = np.random.default_rng(1).random((40, 52, 3), dtype=np.float32)
    tensor = torch.from_numpy(image).permute(2, 0, 1)[:, None]
    padded = F.pad(tensor, (10, 10, 10, 10), mode="reflect")
    basicsr = F.conv2d(padded, torch.from_numpy(kernel).float()[None, None])[:, 0].permute(1, 2, 0).numpy()
    assert np.abs(filter2d(image, kernel) - basicsr).max() < 2e-5


def test_single_channel_and_2d_images_keep_their_shape() -> None:
    image = np.random.default_rng(2).random((30, 30, 1), dtype=np.float32)
    assert filter2d(image, KERNELS["sinc21"]).shape == (30, 30, 1)
    assert filter2d(image[:, :, 0], KERNELS["sinc21"]).shape == (30, 30)


def test_trimming_drops_only_negligible_rings() -> None:
    kernel = bivariate_gaussian(21, 1.0, 1.0, 0.0)
    trimmed = trim_kernel(kernel, 1e-6)
    assert trimmed.shape[0] < 21 and trimmed.shape[0] % 2 == 1
    assert kernel.sum() - trimmed.sum() <= 1e-6
    assert trim_kernel(KERNELS["sinc21"], 1e-6).shape == (21, 21)


def test_isotropic_gaussian_is_one_separable_term() -> None:
    terms = separable_terms(bivariate_gaussian(15, 2.0, 2.0, 0.0), 1e-7, max_terms=4)
    assert terms is not None and len(terms) == 1
    assert separable_terms(KERNELS["random13"], 1e-7, max_terms=2) is None


def test_rejects_even_kernels() -> None:
    with pytest.raises(ValueError, match="odd"):
        filter2d(np.zeros((8, 8, 3), np.float32), np.ones((4, 4)))
