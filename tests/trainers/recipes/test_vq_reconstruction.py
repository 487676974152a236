from __future__ import annotations

import numpy as np
import pytest

from featurestore.modality import Modality
from pipelines.modality_codes import render_modality_map, segmentation_palette
from trainers.recipes.vq_reconstruction import (
    edge_f1,
    edge_pixel_accuracy,
    map_mse,
    mean_errors,
    nearest_palette_ids,
    palette_ids,
    reconstruction_errors,
    reconstruction_to_rgb,
    segmentation_pixel_accuracy,
)


def _edges_rgb(rows: slice) -> np.ndarray:
    edges = np.zeros((256, 256), dtype=np.uint8)
    edges[rows, 100] = 255
    return render_modality_map(edges, Modality.EDGES)[None]


def _segmentation_rgb(labels: np.ndarray) -> np.ndarray:
    return render_modality_map(labels.astype(np.int32), Modality.SEGMENTATION)[None]


def test_reconstruction_to_rgb_clips_rounds_and_moves_channels_last() -> None:
    decoded = np.array([-2.0, -1.0, 0.0, 1.0, 3.0], dtype=np.float32).reshape(1, 1, 1, 5).repeat(3, axis=1)
    rgb = reconstruction_to_rgb(decoded)
    assert rgb.shape == (1, 1, 5, 3) and rgb.dtype == np.uint8
    assert rgb[0, 0, :, 0].tolist() == [0, 0, 128, 255, 255]


def test_map_mse_is_zero_for_identity_and_in_unit_range() -> None:
    rng = np.random.default_rng(0)
    a = rng.integers(0, 256, (2, 8, 8, 3), dtype=np.uint8)
    assert map_mse(a, a).tolist() == [0.0, 0.0]
    black, white = np.zeros_like(a), np.full_like(a, 255)
    assert map_mse(black, white).tolist() == [1.0, 1.0]
    half = np.full_like(a, 51)  # 0.2 in [0, 1] units
    assert map_mse(black, half) == pytest.approx([0.04, 0.04])
    with pytest.raises(ValueError, match="one shape"):
        map_mse(a, a[:, :4])


def test_edge_accuracy_and_f1_see_a_missing_line() -> None:
    truth, half = _edges_rgb(slice(0, 256)), _edges_rgb(slice(0, 128))
    assert edge_pixel_accuracy(truth, truth).tolist() == [1.0]
    assert edge_f1(truth, truth).tolist() == [1.0]
    missing = 128 / (256 * 256)
    assert edge_pixel_accuracy(truth, half) == pytest.approx([1.0 - missing])
    assert edge_f1(truth, half) == pytest.approx([2 * 128 / (256 + 128)])
    empty = np.zeros_like(truth)
    assert edge_f1(empty, empty).tolist() == [1.0] and edge_f1(truth, empty).tolist() == [0.0]


def test_palette_ids_inverts_the_segmentation_palette() -> None:
    ids = np.array([0, 1, 2, 7, 150, 255, 4095, 65535, 2**24 - 1])
    assert palette_ids(segmentation_palette(ids)).tolist() == ids.tolist()


def test_nearest_palette_ids_snaps_noisy_colours_to_the_candidates() -> None:
    rng = np.random.default_rng(1)
    labels = rng.choice([3, 7, 12], size=(16, 16))
    noisy = np.clip(segmentation_palette(labels).astype(np.int64) + rng.integers(-20, 21, (16, 16, 3)), 0, 255)
    assert np.array_equal(nearest_palette_ids(noisy.astype(np.uint8), np.array([3, 7, 12])), labels)


def test_segmentation_accuracy_counts_pixels_of_the_right_class() -> None:
    labels = np.zeros((64, 64), dtype=np.int32)
    labels[:, 32:] = 5
    truth = _segmentation_rgb(labels)
    assert segmentation_pixel_accuracy(truth, truth).tolist() == [1.0]
    wrong = labels.copy()
    wrong[:16, 32:] = 0  # an eighth of the image flips to class 0
    assert segmentation_pixel_accuracy(truth, _segmentation_rgb(wrong)) == pytest.approx([1.0 - 1 / 8])


def test_reconstruction_errors_per_modality_have_the_documented_metrics() -> None:
    edges = _edges_rgb(slice(0, 256))
    assert set(reconstruction_errors(Modality.DEPTH, edges, edges)) == {"mse"}
    assert set(reconstruction_errors(Modality.EDGES, edges, edges)) == {"mse", "pixel_accuracy", "edge_f1"}
    assert set(reconstruction_errors(Modality.SEGMENTATION, edges, edges)) == {"mse", "pixel_accuracy"}
    with pytest.raises(ValueError, match="caption is not a spatial modality"):
        reconstruction_errors(Modality.CAPTION, edges, edges)


def test_mean_errors_averages_over_images_of_all_batches() -> None:
    batches = [
        {Modality.DEPTH: {"mse": np.array([0.1, 0.3])}},
        {Modality.DEPTH: {"mse": np.array([0.5])}, Modality.EDGES: {"mse": np.array([0.2]), "pixel_accuracy": np.array([0.9])}},
    ]
    assert mean_errors(batches) == pytest.approx({
        "eval/depth/mse": 0.3, "eval/depth/count": 3.0,
        "eval/edges/mse": 0.2, "eval/edges/pixel_accuracy": 0.9, "eval/edges/count": 1.0,
    })
    assert mean_errors([]) == {}
