from __future__ import annotations

import numpy as np
import pytest
import torch

from featurestore.modality import Modality
from pipelines.modality_codes import (
    codebook_vectors,
    decode_codes,
    encode_to_codes,
    maps_to_vq_input,
    render_modality_map,
    segmentation_palette,
)
from trainers.models.vq_tokenizer import build_vq_tokenizer


@pytest.fixture(scope="module")
def vq() -> torch.nn.Module:
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(0)
        model = build_vq_tokenizer("tiny").eval()
    with torch.no_grad():  # a spread-out codebook so that codes vary
        model.quantize.embedding.weight.normal_(generator=torch.Generator().manual_seed(1))
    return model


def _maps(rng: np.random.Generator) -> dict[Modality, np.ndarray]:
    return {
        Modality.DEPTH: rng.random((300, 200), dtype=np.float32),
        Modality.SEGMENTATION: rng.integers(0, 150, (128, 128)).astype(np.uint16),
        Modality.EDGES: (rng.random((512, 512)) > 0.9).astype(np.uint8) * 255,
    }


def test_render_gives_256_rgb_uint8_for_every_spatial_modality() -> None:
    for modality, modality_map in _maps(np.random.default_rng(0)).items():
        image = render_modality_map(modality_map, modality)
        assert image.shape == (256, 256, 3) and image.dtype == np.uint8, modality


def test_render_depth_is_grey_scaled_and_clipped() -> None:
    image = render_modality_map(np.full((256, 256), 2.0, dtype=np.float32), Modality.DEPTH)
    assert (image == 255).all()
    image = render_modality_map(np.full((256, 256), 0.5, dtype=np.float32), Modality.DEPTH)
    assert (image == 128).all()


def test_segmentation_uses_a_fixed_palette_without_blending() -> None:
    labels = np.zeros((64, 64), dtype=np.uint16)
    labels[:, 32:] = 15
    image = render_modality_map(labels, Modality.SEGMENTATION)
    colours = {tuple(c) for c in image.reshape(-1, 3)}
    assert colours == {tuple(segmentation_palette(np.array(0))), tuple(segmentation_palette(np.array(15)))}
    palette = segmentation_palette(np.arange(4096))
    assert len({tuple(c) for c in palette}) == 4096  # distinct colours per class id
    assert tuple(palette[1]) == (128, 0, 0)  # PASCAL VOC colour of class 1


@pytest.mark.parametrize(
    ("modality_map", "modality"),
    [
        (np.zeros((8, 8), dtype=np.uint8), Modality.DEPTH),
        (np.zeros((8, 8), dtype=np.float32), Modality.SEGMENTATION),
        (np.zeros((8, 8), dtype=np.float32), Modality.EDGES),
        (np.zeros((8, 8, 3), dtype=np.uint8), Modality.EDGES),
        (np.zeros((8, 8), dtype=np.uint8), Modality.CAPTION),
    ],
)
def test_render_rejects_wrong_inputs(modality_map: np.ndarray, modality: Modality) -> None:
    with pytest.raises(ValueError, match=modality.value):
        render_modality_map(modality_map, modality)


def test_maps_to_vq_input_scales_to_minus_one_one() -> None:
    images = [np.zeros((256, 256, 3), np.uint8), np.full((256, 256, 3), 255, np.uint8)]
    pixels = maps_to_vq_input(images)
    assert pixels.shape == (2, 3, 256, 256) and pixels.dtype == torch.float32
    assert pixels[0].min() == -1.0 and pixels[1].max() == 1.0
    with pytest.raises(ValueError, match="256"):
        maps_to_vq_input([np.zeros((128, 128, 3), np.uint8)])


def test_codes_are_a_row_major_16x16_grid_of_nearest_codebook_entries(vq: torch.nn.Module) -> None:
    rendered = [render_modality_map(m, k) for k, m in _maps(np.random.default_rng(1)).items()]
    pixels = maps_to_vq_input(rendered)
    codes = encode_to_codes(vq, pixels)
    assert codes.shape == (3, 256) and codes.dtype == torch.int64
    assert 0 <= int(codes.min()) and int(codes.max()) < 1024
    assert len(codes.unique()) > 1
    with torch.no_grad():
        latents = vq.encode(pixels).latents  # (B, C, 16, 16)
    row, col = 3, 11
    vector = latents[1, :, row, col]
    nearest = torch.cdist(vector[None], vq.quantize.embedding.weight).argmin()
    assert int(codes[1, row * 16 + col]) == int(nearest)
    assert torch.equal(encode_to_codes(vq, pixels), codes)  # deterministic


def test_codebook_vectors_and_decode_shapes(vq: torch.nn.Module) -> None:
    codes = torch.randint(0, 1024, (2, 256), generator=torch.Generator().manual_seed(0))
    vectors = codebook_vectors(vq, codes)
    assert vectors.shape == (2, 256, 8) and not vectors.requires_grad
    assert torch.equal(vectors[0, 5], vq.quantize.embedding.weight[codes[0, 5]])
    assert decode_codes(vq, codes).shape == (2, 3, 256, 256)
