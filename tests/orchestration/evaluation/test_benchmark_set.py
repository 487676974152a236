"""Reading benchmark sets: pairing by stem, the scale check, crops, odd inputs, seeded LRs."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from orchestration.evaluation.benchmark_set import (
    BenchmarkSetError,
    mod_crop,
    pair_key,
    pair_set,
    synthetic_set,
)
from pipelines.degradation import DegradationConfig
from pipelines.feature_rows import encode_png


@pytest.mark.parametrize(
    ("stem", "key"),
    [("0801x4", "0801"), ("0801", "0801"), ("Canon_001_LR4", "Canon_001"), ("Canon_001_HR", "Canon_001"),
     ("DSC_1454_x4", "DSC_1454"), ("DSC_1454_x1", "DSC_1454"), ("baboon-gt", "baboon"), ("x4", "x4")],
)
def test_pair_key_drops_one_trailing_scale_or_role_marker(stem: str, key: str) -> None:
    assert pair_key(stem) == key


def _write(path: Path, pixels: np.ndarray) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(encode_png(pixels))


def test_pairs_decode_gray_and_16_bit_files_and_center_crop_aligned_regions(tmp_path: Path) -> None:
    rng = np.random.default_rng(0)
    hr = rng.integers(0, 256, (40, 48, 3), dtype=np.uint8)
    _write(tmp_path / "hr" / "a_HR.png", hr)
    _write(tmp_path / "lr" / "a_LR4.png", hr[::4, ::4, 0])  # gray LR
    gray16 = (rng.integers(0, 65536, (5, 6), dtype=np.uint16))
    _write(tmp_path / "lr" / "b_LR4.png", gray16)  # 16-bit gray LR
    _write(tmp_path / "hr" / "b_HR.png", rng.integers(0, 256, (20, 24, 3), dtype=np.uint8))
    full = pair_set(str(tmp_path / "lr"), str(tmp_path / "hr"), 4)
    assert [image.name for image in full.images] == ["a_LR4", "b_LR4"] and full.name == "hr" and full.kind == "pairs"
    assert full.images[0].lr.shape == (10, 12, 3) and full.images[1].lr.shape == (5, 6, 3)
    cropped = pair_set(str(tmp_path / "lr"), str(tmp_path / "hr"), 4, center_crop=16)
    lr, crop = cropped.images[0].lr, cropped.images[0].hr
    assert lr.shape == (4, 4, 3) and crop.shape == (16, 16, 3)
    np.testing.assert_array_equal(crop, hr[12:28, 16:32])  # LR rows 3..6, cols 4..7, x4
    np.testing.assert_array_equal(lr[:, :, 0], hr[12:28:4, 16:32:4, 0])
    assert cropped.content_hash == full.content_hash  # the hash names the files, not the crop
    with pytest.raises(BenchmarkSetError, match="not a multiple of the scale 4"):
        pair_set(str(tmp_path / "lr"), str(tmp_path / "hr"), 4, center_crop=18)


def test_unmatched_files_are_named(tmp_path: Path) -> None:
    _write(tmp_path / "hr" / "a.png", np.zeros((8, 8, 3), np.uint8))
    _write(tmp_path / "lr" / "b.png", np.zeros((2, 2, 3), np.uint8))
    with pytest.raises(BenchmarkSetError, match=r"2 file\(s\) have no pair by name"):
        pair_set(str(tmp_path / "lr"), str(tmp_path / "hr"), 4)


def test_synthetic_lrs_depend_on_the_file_and_seed_only(tmp_path: Path) -> None:
    rng = np.random.default_rng(1)
    _write(tmp_path / "hr" / "one.png", rng.integers(0, 256, (34, 35, 3), dtype=np.uint8))
    degradation = DegradationConfig(scale=2)
    first, again = (synthetic_set(str(tmp_path / "hr"), degradation, 7, 2) for _ in range(2))
    other_seed = synthetic_set(str(tmp_path / "hr"), degradation, 8, 2)
    assert first.images[0].hr.shape == (34, 34, 3) and first.images[0].lr.shape == (17, 17, 3)  # mod-cropped
    assert first.images[0].lr.tobytes() == again.images[0].lr.tobytes()
    assert first.images[0].lr.tobytes() != other_seed.images[0].lr.tobytes()
    assert first.seed == 7 and first.content_hash == other_seed.content_hash
    assert mod_crop(np.zeros((9, 10, 3)), 4).shape == (8, 8, 3)
    with pytest.raises(BenchmarkSetError, match="the model is x4 but the degradation's scale is 2"):
        synthetic_set(str(tmp_path / "hr"), degradation, 7, 4)
