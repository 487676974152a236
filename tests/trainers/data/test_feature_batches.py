from __future__ import annotations

import cv2
import numpy as np
import pytest

from trainers.data.feature_batches import TRAINING_COLUMNS, decode_feature_batch, decode_png_batch, token_batch


def _png(rgb: np.ndarray) -> bytes:
    return cv2.imencode(".png", cv2.cvtColor(rgb, cv2.COLOR_RGB2BGR))[1].tobytes()


def test_png_batch_is_channels_first_rgb_uint8() -> None:
    red = np.zeros((8, 8, 3), np.uint8)
    red[..., 0] = 255
    out = decode_png_batch(np.array([_png(red)], dtype=object))
    assert out.shape == (1, 3, 8, 8) and out.dtype == np.uint8 and out.flags.c_contiguous
    assert (out[0, 0] == 255).all() and (out[0, 1:] == 0).all()


def test_undecodable_png_names_the_fix() -> None:
    with pytest.raises(ValueError, match="mmsr features validate"):
        decode_png_batch(np.array([b"not a png"], dtype=object))


def test_token_batch_marks_absent_rows_and_rejects_bad_lengths() -> None:
    tokens, present = token_batch(np.array([[1] * 4, None], dtype=object), 4)
    assert present.tolist() == [True, False]
    assert tokens[0].tolist() == [1, 1, 1, 1] and tokens[1].tolist() == [0, 0, 0, 0]
    with pytest.raises(ValueError, match="expected 4 tokens"):
        token_batch(np.array([[1, 2]], dtype=object), 4)


def test_decode_feature_batch_covers_every_modality() -> None:
    image = _png(np.full((16, 16, 3), 128, np.uint8))
    lr = _png(np.full((4, 4, 3), 128, np.uint8))
    batch = {
        "hr_png": np.array([image], dtype=object),
        "lr_png": np.array([lr], dtype=object),
        "edges_tokens": np.array([list(range(256))], dtype=object),
    }
    out = decode_feature_batch(batch)
    assert out["hr"].shape == (1, 3, 16, 16) and out["lr"].shape == (1, 3, 4, 4)
    assert out["edges_present"].tolist() == [True] and out["edges_tokens"][0, 255] == 255
    assert out["depth_present"].tolist() == [False]
    assert out["caption_tokens"].shape == (1, 77)
    assert "sample_id" not in out  # only passed through when read


def test_decode_feature_batch_passes_sample_ids_through_for_the_encoding_cache() -> None:
    image, lr = _png(np.zeros((16, 16, 3), np.uint8)), _png(np.zeros((4, 4, 3), np.uint8))
    batch = {"sample_id": np.array(["s1", "s2"], dtype=object), "hr_png": np.array([image, image], dtype=object),
             "lr_png": np.array([lr, lr], dtype=object)}
    assert decode_feature_batch(batch)["sample_id"].tolist() == ["s1", "s2"]
    assert "sample_id" in TRAINING_COLUMNS
