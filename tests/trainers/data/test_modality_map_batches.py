from __future__ import annotations

import cv2
import numpy as np
import pytest

from featurestore.modality import SPATIAL_MODALITIES, Modality
from pipelines.feature_rows import modality_map_png
from pipelines.modality_codes import render_modality_map
from trainers.data.modality_map_batches import decode_modality_png, render_map_batch


def _maps() -> dict[Modality, np.ndarray]:
    rows, cols = np.mgrid[0:32, 0:32]
    edges = np.zeros((32, 32), dtype=np.uint8)
    edges[10, :] = 255
    return {
        Modality.DEPTH: (rows / 31.0).astype(np.float32),
        Modality.SEGMENTATION: np.where(cols < 16, 3, 300).astype(np.int32),
        Modality.EDGES: edges,
    }


def test_decode_inverts_the_feature_store_encoding() -> None:
    maps = _maps()
    depth = decode_modality_png(modality_map_png(Modality.DEPTH, maps[Modality.DEPTH]), Modality.DEPTH)
    assert depth.dtype == np.float32 and np.abs(depth - maps[Modality.DEPTH]).max() < 1e-4
    for modality in (Modality.SEGMENTATION, Modality.EDGES):
        decoded = decode_modality_png(modality_map_png(modality, maps[modality]), modality)
        assert np.array_equal(decoded, maps[modality]), modality


def test_decode_accepts_8_bit_depth_and_refuses_colour_or_garbage() -> None:
    ok, grey = cv2.imencode(".png", np.full((4, 4), 255, dtype=np.uint8))
    assert decode_modality_png(grey.tobytes(), Modality.DEPTH).max() == 1.0
    ok, colour = cv2.imencode(".png", np.zeros((4, 4, 3), dtype=np.uint8))
    assert ok
    with pytest.raises(ValueError, match="edges_png is not a decodable gray PNG"):
        decode_modality_png(colour.tobytes(), Modality.EDGES)
    with pytest.raises(ValueError, match="depth_png"):
        decode_modality_png(b"not a png", Modality.DEPTH)


def test_render_map_batch_flattens_present_maps_in_row_then_modality_order() -> None:
    maps = _maps()
    encoded = {m: modality_map_png(m, maps[m]) for m in SPATIAL_MODALITIES}
    batch = {
        "depth_png": np.array([encoded[Modality.DEPTH], None], dtype=object),
        "segmentation_png": np.array([None, encoded[Modality.SEGMENTATION]], dtype=object),
        "edges_png": np.array([encoded[Modality.EDGES], encoded[Modality.EDGES]], dtype=object),
    }
    out = render_map_batch(batch, SPATIAL_MODALITIES)
    assert out["modality"].tolist() == ["depth", "edges", "segmentation", "edges"]
    assert out["image"].shape == (4, 256, 256, 3) and out["image"].dtype == np.uint8
    assert np.array_equal(out["image"][2], render_modality_map(maps[Modality.SEGMENTATION], Modality.SEGMENTATION))
    only_edges = render_map_batch(batch, (Modality.EDGES,))
    assert only_edges["modality"].tolist() == ["edges", "edges"]


def test_render_map_batch_of_absent_maps_is_empty() -> None:
    batch = {"depth_png": np.array([None, None], dtype=object)}
    out = render_map_batch(batch, (Modality.DEPTH,))
    assert out["image"].shape == (0, 256, 256, 3) and out["modality"].shape == (0,)
