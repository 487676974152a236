"""PSNR/SSIM under each named convention equal the reference implementations' numbers.

How the literals were made (once, outside this repository, by running the reference code itself):
- ``basicsr-y``: BasicSR at commit 8d56e3a045f9fb3e1d8872f92ee4a4f07f886b0a,
  ``basicsr/metrics/psnr_ssim.py`` ``calculate_psnr`` / ``calculate_ssim`` (with
  ``basicsr/metrics/metric_util.py`` and ``basicsr/utils/color_util.py``), called as BasicSR's SR
  validation calls them: ``calculate_psnr(sr_bgr, hr_bgr, crop_border=scale, test_y_channel=True)``
  on uint8 BGR images (``sr[..., ::-1]``), the same for SSIM.
- ``pyiqa-y``: IQA-PyTorch at commit 01ae427f9afd66842031d3a7cb694dcad5b5cbb8, the classes
  ``pyiqa.create_metric`` builds for SeeSR's calls ``create_metric('psnr'|'ssim', test_y_channel=True,
  color_space='ycbcr')``: ``pyiqa/archs/psnr_arch.py`` ``PSNR(test_y_channel=True, color_space='ycbcr')``
  and ``pyiqa/archs/ssim_arch.py`` ``SSIM(downsample=False, test_y_channel=True, color_space='ycbcr')``
  (the ``'ssim'`` default config sets ``downsample=False``), loaded from the fetched source files
  (pyiqa's package import needs torchvision), on (1, 3, H, W) float32 tensors ``rgb / 255``.
- ``rgb``: scikit-image 0.26.0 ``peak_signal_noise_ratio(hr, sr, data_range=255)`` and
  ``structural_similarity(hr, sr, channel_axis=2, data_range=255)``.
The image pairs are :func:`_pairs` below, unchanged.
"""

from __future__ import annotations

import numpy as np
import pytest
import skimage.data

from orchestration.evaluation.fidelity_convention import CONVENTIONS, Convention, fidelity, psnr, ssim


def _pairs() -> list[tuple[np.ndarray, np.ndarray, int]]:
    """(sr, hr, scale): a 97x75 LR at x4 (HR 388x300, not multiples of 8) box-downsampled and
    upsampled by pixel repetition; a 256x256 photo with seeded Gaussian noise (x4); two unrelated
    48x80 noise images (x2), where the contrast-structure term is often negative."""
    hr1 = skimage.data.astronaut()[100:400, 60:448]
    lr1 = hr1.reshape(75, 4, 97, 4, 3).mean(axis=(1, 3)).round().astype(np.uint8)
    sr1 = np.repeat(np.repeat(lr1, 4, axis=0), 4, axis=1)
    hr2 = skimage.data.chelsea()[:256, 100:356]
    noise = np.random.default_rng(7).normal(0.0, 12.0, hr2.shape)
    sr2 = np.clip(hr2 + noise, 0, 255).round().astype(np.uint8)
    rng = np.random.default_rng(3)
    hr3 = rng.integers(0, 256, (48, 80, 3), dtype=np.uint8)
    sr3 = rng.integers(0, 256, (48, 80, 3), dtype=np.uint8)
    return [(sr1, hr1, 4), (sr2, hr2, 4), (sr3, hr3, 2)]


REFERENCE: dict[Convention, list[tuple[float, float]]] = {
    "basicsr-y": [(24.165723, 0.757013), (31.401973, 0.832470), (12.752380, 0.057344)],
    "pyiqa-y": [(24.183273, 0.757835), (31.400677, 0.829145), (12.667103, 0.103747)],
    "rgb": [(22.676494, 0.759684), (26.589230, 0.710563), (7.789572, 0.023481)],
}
"""(PSNR dB, SSIM) per pair of :func:`_pairs`, from the reference code (module docstring)."""


@pytest.mark.parametrize("convention", CONVENTIONS)
def test_psnr_and_ssim_equal_the_reference_code(convention: Convention) -> None:
    pairs = _pairs()
    assert pairs[0][1].shape == (300, 388, 3)
    for (sr, hr, scale), (ref_psnr, ref_ssim) in zip(pairs, REFERENCE[convention], strict=True):
        scores = fidelity(sr, hr, convention, scale)
        assert scores.psnr == pytest.approx(ref_psnr, abs=1e-4)  # acceptance: 0.01 dB
        assert scores.ssim == pytest.approx(ref_ssim, abs=1e-5)  # acceptance: 0.0005


def test_the_conventions_give_different_numbers_and_basicsr_crops_the_scale() -> None:
    sr, hr, _ = _pairs()[0]
    assert len({round(psnr(sr, hr, c, 4), 3) for c in CONVENTIONS}) == 3
    assert psnr(sr, hr, "basicsr-y", 4) != psnr(sr, hr, "basicsr-y", 2)
    assert psnr(sr, hr, "pyiqa-y", 4) == psnr(sr, hr, "pyiqa-y", 2)  # no crop
    damaged = sr.copy()
    damaged[:4] = 0  # only inside the x4 border
    assert psnr(damaged, hr, "basicsr-y", 4) == psnr(sr, hr, "basicsr-y", 4)
    assert psnr(damaged, hr, "rgb", 4) < psnr(sr, hr, "rgb", 4)


def test_identical_images_and_bad_shapes() -> None:
    _, hr, scale = _pairs()[1]
    assert psnr(hr, hr, "basicsr-y", scale) == 100.0 and psnr(hr, hr, "rgb", scale) == 100.0
    assert psnr(hr, hr, "pyiqa-y", scale) == pytest.approx(80.0)  # pyiqa's eps of 1e-8 on the [0, 1] range
    assert all(ssim(hr, hr, c, scale) == pytest.approx(1.0) for c in CONVENTIONS)
    with pytest.raises(ValueError, match="differs"):
        psnr(hr[:16], hr, "basicsr-y", scale)
    with pytest.raises(ValueError, match="RGB"):
        ssim(hr[..., 0], hr[..., 0], "pyiqa-y", scale)
    with pytest.raises(ValueError, match="unknown convention"):
        psnr(hr, hr, "matlab", scale)  # type: ignore[arg-type]
