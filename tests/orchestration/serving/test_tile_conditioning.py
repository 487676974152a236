"""Tile-aligned modality tokens: each tile is conditioned on the codes of its own region's maps."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

from featurestore.modality import Modality
from orchestration.serving.lr_modalities import map_codes, upsample
from orchestration.serving.super_resolution import SamplingOptions, super_resolve
from orchestration.serving.tile_conditioning import TileModalityTokens, crop_map, map_region
from pipelines.modalities.edges import canny_edges
from pipelines.modality_codes import codebook_vectors
from pipelines.pixel_range import to_model_range
from trainers.models.sr_pipeline import MMSRPipeline

pytestmark = pytest.mark.integration  # ~4 s in all, measured on 2 loaded cores


def test_a_box_in_output_pixels_maps_to_its_region_of_a_smaller_map_clipped() -> None:
    assert map_region((64, 96), (0, 0, 64, 64), (128, 192)) == (slice(0, 32), slice(0, 32))
    assert map_region((64, 96), (96, 160, 64, 64), (128, 192)) == (slice(48, 64), slice(80, 96))  # into the padding
    assert map_region((64, 96), (0, 0, 1, 1), (128, 192)) == (slice(0, 1), slice(0, 1))  # never empty


def test_a_depth_crop_is_normalised_again_like_a_crop_in_preprocessing() -> None:
    depth = np.linspace(0.0, 1.0, 100, dtype=np.float32).reshape(10, 10)
    crop = crop_map(Modality.DEPTH, depth, (slice(0, 5), slice(0, 5)))
    assert (float(crop.min()), float(crop.max())) == (0.0, 1.0)
    edges = (np.arange(100).reshape(10, 10) % 255).astype(np.uint8)
    np.testing.assert_array_equal(crop_map(Modality.EDGES, edges, (slice(2, 4), slice(0, 3))), edges[2:4, 0:3])


def test_a_tile_gets_its_regions_codes_and_the_images_caption(tiny_pipeline_dir: Path) -> None:
    pipeline = MMSRPipeline.from_pretrained(tiny_pipeline_dir)
    rng = np.random.default_rng(0)
    edges = [np.where(rng.random((64, 96)) < 0.2, 255, 0).astype(np.uint8) for _ in range(2)]
    whole = pipeline.condition_tokens(
        2, codes={Modality.EDGES: map_codes(pipeline, Modality.EDGES, edges)}, captions=["a cat", None]
    )
    per_tile = TileModalityTokens(pipeline, {Modality.EDGES: edges}, whole, (128, 192))
    assert per_tile((0, 0, 128, 192)) is whole and per_tile((0, 0, 136, 200)) is whole  # padded whole image

    tile = per_tile((0, 64, 64, 64))
    expected = codebook_vectors(pipeline.vq, map_codes(pipeline, Modality.EDGES, [e[0:32, 32:64] for e in edges]))
    torch.testing.assert_close(tile.feature(Modality.EDGES), expected)
    assert not torch.equal(tile.feature(Modality.EDGES), whole.feature(Modality.EDGES))
    assert torch.equal(tile.feature(Modality.CAPTION), whole.feature(Modality.CAPTION))
    assert tile.mask(Modality.CAPTION).tolist() == [True, False]


def test_serving_conditions_tiles_on_their_regions_and_one_tile_on_the_whole_image(tiny_pipeline_dir: Path) -> None:
    """The tiny UNet's tiles are 32 latent = 32 LR pixels: a 64 px LR is tiled, a 16 px one is not."""
    pipeline = MMSRPipeline.from_pretrained(tiny_pipeline_dir)
    options = SamplingOptions(steps=2, guidance_mode="none", seed=3)
    generator = torch.Generator().manual_seed(options.seed)
    for side, tiled in ((16, False), (64, True)):
        lr = np.random.default_rng(side).integers(0, 256, (side, side, 3), dtype=np.uint8)
        served = super_resolve(pipeline, lr, "a cat", options)
        edges = map_codes(pipeline, Modality.EDGES, [canny_edges(upsample(lr, pipeline.config.scale))])
        whole = pipeline.condition_tokens(1, codes={Modality.EDGES: edges}, captions=["a cat"])
        pixels = to_model_range(torch.from_numpy(lr).permute(2, 0, 1)[None])
        same_tokens = pipeline(pixels, whole, options, generator=generator.manual_seed(3))
        same = ((same_tokens.clamp(-1, 1) + 1.0) * 127.5).round().byte()[0].permute(1, 2, 0).numpy()
        assert np.array_equal(served, same) is not tiled, side

