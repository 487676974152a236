from __future__ import annotations

import dataclasses

import pytest

from orchestration.config_loading import ConfigError, parse_config
from pipelines.degradation.config import DegradationConfig


def test_defaults_are_real_esrgan_x4plus() -> None:
    config = DegradationConfig()
    assert config.scale == 4
    assert config.usm_sharpen is True
    assert config.kernel_list == (
        "iso",
        "aniso",
        "generalized_iso",
        "generalized_aniso",
        "plateau_iso",
        "plateau_aniso",
    )
    assert config.kernel_prob == config.kernel_prob2 == (0.45, 0.25, 0.12, 0.03, 0.12, 0.03)
    assert (config.sinc_prob, config.sinc_prob2, config.final_sinc_prob) == (0.1, 0.1, 0.8)
    assert (config.blur_sigma, config.blur_sigma2) == ((0.2, 3.0), (0.2, 1.5))
    assert (config.betag_range, config.betap_range) == ((0.5, 4.0), (1.0, 2.0))
    assert config.kernel_size_range == (7, 21)
    assert (config.resize_prob, config.resize_range) == ((0.2, 0.7, 0.1), (0.15, 1.5))
    assert (config.resize_prob2, config.resize_range2) == ((0.3, 0.4, 0.3), (0.3, 1.2))
    assert (config.noise_range, config.noise_range2) == ((1.0, 30.0), (1.0, 25.0))
    assert (config.poisson_scale_range, config.poisson_scale_range2) == ((0.05, 3.0), (0.05, 2.5))
    assert (config.gaussian_noise_prob, config.gray_noise_prob, config.second_blur_prob) == (0.5, 0.4, 0.8)
    assert config.jpeg_range == config.jpeg_range2 == (30, 95)


def test_stage_views_pick_the_stage_fields() -> None:
    config = DegradationConfig(blur_sigma2=(0.3, 1.0), noise_range2=(2.0, 5.0), resize_range2=(0.5, 1.1))
    assert config.blur_settings(1).blur_sigma == (0.2, 3.0)
    assert config.blur_settings(2).blur_sigma == (0.3, 1.0)
    assert config.noise_settings(2).noise_range == (2.0, 5.0)
    assert config.resize_settings(2).resize_range == (0.5, 1.1)
    assert config.resize_settings(1).modes == ("area", "bilinear", "bicubic")


@pytest.mark.parametrize(
    ("changes", "field"),
    [
        ({"scale": 0}, "scale"),
        ({"kernel_prob": (0.5, 0.25, 0.12, 0.03, 0.12, 0.03)}, "kernel_prob"),
        ({"kernel_prob2": (0.5, 0.5)}, "kernel_prob2"),
        ({"kernel_list": ("iso", "iso"), "kernel_prob": (0.5, 0.5)}, "kernel_list"),
        ({"sinc_prob": 1.5}, "sinc_prob"),
        ({"second_blur_prob": -0.1}, "second_blur_prob"),
        ({"blur_sigma": (3.0, 0.2)}, "blur_sigma"),
        ({"blur_sigma2": (0.0, 1.0)}, "blur_sigma2"),
        ({"betag_range": (1.5, 4.0)}, "betag_range"),
        ({"resize_prob2": (0.5, 0.5)}, "resize_prob2"),
        ({"resize_prob": (0.5, 0.6, 0.1)}, "resize_prob"),
        ({"resize_range": (1.2, 1.5)}, "resize_range"),
        ({"noise_range2": (-1.0, 25.0)}, "noise_range2"),
        ({"jpeg_range": (30, 101)}, "jpeg_range"),
        ({"jpeg_range2": (0, 95)}, "jpeg_range2"),
        ({"kernel_size_range": (7, 20)}, "kernel_size_range"),
        ({"resize_modes": ()}, "resize_modes"),
    ],
)
def test_bad_values_are_rejected_naming_the_field(changes: dict, field: str) -> None:
    with pytest.raises(ValueError, match=rf"^{field} "):
        dataclasses.replace(DegradationConfig(), **changes)


def test_yaml_style_mapping_loads_through_the_config_loader() -> None:
    config = parse_config(DegradationConfig, {"jpeg_range": [40, 90], "kernel_size_range": [7, 15]})
    assert config.jpeg_range == (40, 90)
    assert config.kernel_size_range == (7, 15)
    with pytest.raises(ConfigError, match="kernel_list"):
        parse_config(DegradationConfig, {"kernel_list": ["iso", "box"], "kernel_prob": [0.5, 0.5]})
    with pytest.raises(ConfigError, match="final_sinc_prob"):
        parse_config(DegradationConfig, {"final_sinc_prob": 2.0})
