from __future__ import annotations

import copy

import numpy as np
import pytest
import torch
from transformers import AutoImageProcessor

from pipelines.modalities.depth import build_tiny_depth_model
from pipelines.modalities.depth_input import DepthInputSpec, depth_pixel_values, resized_size


@pytest.fixture(scope="module")
def processor(tmp_path_factory: pytest.TempPathFactory) -> object:
    return AutoImageProcessor.from_pretrained(build_tiny_depth_model(tmp_path_factory.mktemp("tiny-depth")))


def smooth_images(count: int, height: int, width: int, seed: int) -> np.ndarray:
    """(count, height, width, 3) uint8 photo-like (smooth) images."""
    rng = np.random.default_rng(seed)
    rows, cols = np.meshgrid(np.linspace(0, 1, height), np.linspace(0, 1, width), indexing="ij")
    phase = rng.uniform(0, 2 * np.pi, (count, 1, 1, 3))
    waves = np.sin(3 * rows[None, ..., None] + 5 * cols[None, ..., None] + phase)
    return np.round(127.5 + 120 * waves).astype(np.uint8)


@pytest.mark.parametrize("shape", [(64, 96), (40, 56), (140, 100)])
def test_batch_matches_the_checkpoints_image_processor(processor: object, shape: tuple[int, int]) -> None:
    images = smooth_images(3, *shape, seed=1)
    expected = processor(images=list(images), return_tensors="pt", input_data_format="channels_last")["pixel_values"]
    found = depth_pixel_values(torch.from_numpy(images), DepthInputSpec.from_processor(processor))
    assert found.shape == expected.shape and found.dtype == torch.float32
    assert float((found - expected).abs().mean()) < 0.02  # PIL rounds to uint8 after resizing; this does not


def test_resized_size_keeps_aspect_ratio_on_multiples() -> None:
    spec = DepthInputSpec(518, 518, True, 14, 1 / 255, (0.5,) * 3, (0.5,) * 3)
    assert resized_size(spec, 518, 700) == (518, 700)
    assert resized_size(spec, 128, 128) == (518, 518)
    assert resized_size(DepthInputSpec(56, 56, False, 14, 1 / 255, (0.5,) * 3, (0.5,) * 3), 64, 96) == (56, 56)


def test_unsupported_processor_settings_and_inputs_are_refused(processor: object) -> None:
    spec = DepthInputSpec.from_processor(processor)
    with pytest.raises(ValueError, match="uint8"):
        depth_pixel_values(torch.zeros(1, 8, 8, 3), spec)
    padding = copy.deepcopy(processor)
    padding.do_pad = True  # type: ignore[attr-defined]
    with pytest.raises(ValueError, match="do_pad=False"):
        DepthInputSpec.from_processor(padding)
