from __future__ import annotations

import dataclasses
import json

import numpy as np
import pytest
from skimage import data

from pipelines.degradation import DegradationConfig, DegradationResult, degrade, derive_rng


def _photo(height: int = 96, width: int = 128) -> np.ndarray:
    return np.ascontiguousarray(data.astronaut()[40 : 40 + height, 200 : 200 + width])


@pytest.mark.parametrize("shape", [(96, 128), (64, 64), (40, 24), (8, 4)])
def test_output_is_uint8_rgb_at_a_quarter_of_the_size(shape: tuple[int, int]) -> None:
    hr = np.random.default_rng(0).integers(0, 256, (*shape, 3), dtype=np.uint8)
    for seed in range(3):
        result = degrade(hr, DegradationConfig(), derive_rng("size", seed))
        assert isinstance(result, DegradationResult)
        assert result.lr.shape == (shape[0] // 4, shape[1] // 4, 3) and result.lr.dtype == np.uint8


def test_other_scales() -> None:
    result = degrade(_photo(), DegradationConfig(scale=2), derive_rng("scale", 0))
    assert result.lr.shape == (48, 64, 3) and result.params["scale"] == 2


def test_same_seed_gives_identical_bytes_and_params() -> None:
    hr, config = _photo(), DegradationConfig()
    first = degrade(hr, config, derive_rng("sample-a", 7))
    second = degrade(hr, config, derive_rng("sample-a", 7))
    assert first.lr.tobytes() == second.lr.tobytes()
    assert json.dumps(first.params, sort_keys=True) == json.dumps(second.params, sort_keys=True)


def test_different_seed_or_sample_gives_a_different_lr() -> None:
    hr, config = _photo(), DegradationConfig()
    reference = degrade(hr, config, derive_rng("sample-a", 7)).lr
    assert not np.array_equal(reference, degrade(hr, config, derive_rng("sample-a", 8)).lr)
    assert not np.array_equal(reference, degrade(hr, config, derive_rng("sample-b", 7)).lr)


def test_params_are_json_and_record_every_stage() -> None:
    for seed in range(20):
        params = json.loads(json.dumps(degrade(_photo(), DegradationConfig(), derive_rng("params", seed)).params))
        assert params["hr_size"] == [96, 128] and params["usm_sharpen"] is True
        first, second, final = params["first"], params["second"], params["final"]
        assert {"kernel_type", "size"} <= set(first["blur"])
        assert {"direction", "scale", "mode", "size"} == set(first["resize"])
        assert first["noise"]["kind"] in ("gaussian", "poisson")
        assert 30 <= first["jpeg_quality"] <= 95 and 30 <= final["jpeg_quality"] <= 95
        assert second["blur"] is None or second["blur"]["size"] in range(7, 22, 2)
        assert second["resize"]["size"] == [
            max(1, int(24 * second["resize"]["scale"])),
            max(1, int(32 * second["resize"]["scale"])),
        ]
        assert final["order"] in ("resize_sinc_then_jpeg", "jpeg_then_resize_sinc")
        assert final["resize_mode"] in ("area", "bilinear", "bicubic")
        assert final["sinc"] is None or final["sinc"]["kernel_type"] == "sinc"


def test_probabilities_switch_the_optional_steps() -> None:
    never = DegradationConfig(
        second_blur_prob=0.0, final_sinc_prob=0.0, gaussian_noise_prob=1.0, gaussian_noise_prob2=0.0
    )
    params = degrade(_photo(), never, derive_rng("switch", 0)).params
    assert params["second"]["blur"] is None and params["final"]["sinc"] is None
    assert params["first"]["noise"]["kind"] == "gaussian" and params["second"]["noise"]["kind"] == "poisson"
    always = dataclasses.replace(never, second_blur_prob=1.0, final_sinc_prob=1.0, sinc_prob=1.0)
    params = degrade(_photo(), always, derive_rng("switch", 0)).params
    assert params["first"]["blur"]["kernel_type"] == "sinc"
    assert params["second"]["blur"] is not None and params["final"]["sinc"] is not None


def test_degradation_is_strong_but_keeps_the_content() -> None:
    hr = _photo(256, 256)
    lr = degrade(hr, DegradationConfig(), derive_rng("content", 3)).lr.astype(np.float64)
    reference = hr.reshape(64, 4, 64, 4, 3).mean(axis=(1, 3))
    correlation = np.corrcoef(lr.ravel(), reference.ravel())[0, 1]
    assert 0.5 < correlation < 0.999


@pytest.mark.parametrize(
    ("hr", "message"),
    [
        (np.zeros((64, 64, 3), np.float32), "uint8"),
        (np.zeros((64, 64), np.uint8), r"\(H, W, 3\)"),
        (np.zeros((66, 64, 3), np.uint8), "multiples of scale"),
    ],
)
def test_rejects_bad_inputs(hr: np.ndarray, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        degrade(hr, DegradationConfig(), derive_rng("bad", 0))
