"""Typed configuration of the Real-ESRGAN second-order degradation.

Field names and defaults are Real-ESRGAN's (``options/train_realesrgan_x4plus.yml`` plus the
constants hard-coded in ``RealESRGANDataset`` / ``RealESRGANModel``), so a Real-ESRGAN YAML block
maps onto :class:`DegradationConfig` key for key. The per-stage views (:class:`BlurSettings`,
:class:`ResizeSettings`, :class:`NoiseSettings`) let the stage functions take only what they use.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Literal

KernelType = Literal["iso", "aniso", "generalized_iso", "generalized_aniso", "plateau_iso", "plateau_aniso"]
ResizeMode = Literal["area", "bilinear", "bicubic"]
UpDown = Literal["up", "down", "keep"]

KERNEL_TYPES: tuple[KernelType, ...] = (
    "iso",
    "aniso",
    "generalized_iso",
    "generalized_aniso",
    "plateau_iso",
    "plateau_aniso",
)
DEFAULT_KERNEL_PROB: tuple[float, ...] = (0.45, 0.25, 0.12, 0.03, 0.12, 0.03)
RESIZE_MODES: tuple[ResizeMode, ...] = ("area", "bilinear", "bicubic")
UP_DOWN_KEEP: tuple[UpDown, ...] = ("up", "down", "keep")

_PROB_SUM_TOLERANCE = 1e-6


@dataclass(frozen=True)
class BlurSettings:
    """What one blur stage samples from (Real-ESRGAN's ``kernel_list``, ``blur_sigma``, ...)."""

    kernel_list: tuple[KernelType, ...]
    kernel_prob: tuple[float, ...]
    sinc_prob: float
    blur_sigma: tuple[float, float]
    betag_range: tuple[float, float]
    betap_range: tuple[float, float]
    kernel_size_range: tuple[int, int]


@dataclass(frozen=True)
class ResizeSettings:
    """What one random-resize stage samples from: up/down/keep probabilities and the scale range."""

    resize_prob: tuple[float, float, float]
    resize_range: tuple[float, float]
    modes: tuple[ResizeMode, ...]


@dataclass(frozen=True)
class NoiseSettings:
    """What one noise stage samples from: Gaussian (sigma in 0..255 units) or Poisson (scale)."""

    gaussian_noise_prob: float
    noise_range: tuple[float, float]
    poisson_scale_range: tuple[float, float]
    gray_noise_prob: float


@dataclass(frozen=True)
class DegradationConfig:
    """Real-ESRGAN x4plus degradation settings; every default is Real-ESRGAN's training default."""

    scale: int = 4
    """HR side / LR side; HR height and width must be divisible by it."""
    usm_sharpen: bool = True
    """Real-ESRGAN degrades the USM-sharpened HR (``gt_usm``: weight 0.5, radius 50, threshold 10)."""
    kernel_size_range: tuple[int, int] = (7, 21)
    """Odd blur / sinc kernel sizes are drawn uniformly from this inclusive range."""

    kernel_list: tuple[KernelType, ...] = KERNEL_TYPES
    kernel_prob: tuple[float, ...] = DEFAULT_KERNEL_PROB
    sinc_prob: float = 0.1
    blur_sigma: tuple[float, float] = (0.2, 3.0)
    betag_range: tuple[float, float] = (0.5, 4.0)
    betap_range: tuple[float, float] = (1.0, 2.0)
    resize_prob: tuple[float, float, float] = (0.2, 0.7, 0.1)
    """Probabilities of up / down / keep."""
    resize_range: tuple[float, float] = (0.15, 1.5)
    gaussian_noise_prob: float = 0.5
    noise_range: tuple[float, float] = (1.0, 30.0)
    poisson_scale_range: tuple[float, float] = (0.05, 3.0)
    gray_noise_prob: float = 0.4
    jpeg_range: tuple[int, int] = (30, 95)

    second_blur_prob: float = 0.8
    kernel_list2: tuple[KernelType, ...] = KERNEL_TYPES
    kernel_prob2: tuple[float, ...] = DEFAULT_KERNEL_PROB
    sinc_prob2: float = 0.1
    blur_sigma2: tuple[float, float] = (0.2, 1.5)
    betag_range2: tuple[float, float] = (0.5, 4.0)
    betap_range2: tuple[float, float] = (1.0, 2.0)
    resize_prob2: tuple[float, float, float] = (0.3, 0.4, 0.3)
    resize_range2: tuple[float, float] = (0.3, 1.2)
    gaussian_noise_prob2: float = 0.5
    noise_range2: tuple[float, float] = (1.0, 25.0)
    poisson_scale_range2: tuple[float, float] = (0.05, 2.5)
    gray_noise_prob2: float = 0.4
    jpeg_range2: tuple[int, int] = (30, 95)

    final_sinc_prob: float = 0.8
    resize_modes: tuple[ResizeMode, ...] = RESIZE_MODES
    """Interpolation modes every resize picks from uniformly."""

    def __post_init__(self) -> None:
        if self.scale < 1:
            raise ValueError(f"scale must be >= 1, got {self.scale}")
        _check_kernel_sizes("kernel_size_range", self.kernel_size_range)
        for suffix in ("", "2"):
            _check_kernel_choice(suffix, getattr(self, f"kernel_list{suffix}"), getattr(self, f"kernel_prob{suffix}"))
            _check_range(f"blur_sigma{suffix}", getattr(self, f"blur_sigma{suffix}"), low=0.0, low_open=True)
            _check_range(
                f"betag_range{suffix}", getattr(self, f"betag_range{suffix}"), low=0.0, low_open=True, spans=1.0
            )
            _check_range(
                f"betap_range{suffix}", getattr(self, f"betap_range{suffix}"), low=0.0, low_open=True, spans=1.0
            )
            _check_probs(f"resize_prob{suffix}", getattr(self, f"resize_prob{suffix}"), length=3)
            _check_range(
                f"resize_range{suffix}", getattr(self, f"resize_range{suffix}"), low=0.0, low_open=True, spans=1.0
            )
            _check_range(f"noise_range{suffix}", getattr(self, f"noise_range{suffix}"), low=0.0)
            _check_range(f"poisson_scale_range{suffix}", getattr(self, f"poisson_scale_range{suffix}"), low=0.0)
            _check_range(f"jpeg_range{suffix}", getattr(self, f"jpeg_range{suffix}"), low=1, high=100)
        for name in (
            "sinc_prob",
            "sinc_prob2",
            "gaussian_noise_prob",
            "gaussian_noise_prob2",
            "gray_noise_prob",
            "gray_noise_prob2",
            "second_blur_prob",
            "final_sinc_prob",
        ):
            _check_probability(name, getattr(self, name))
        if not self.resize_modes or len(set(self.resize_modes)) != len(self.resize_modes):
            raise ValueError(f"resize_modes must be non-empty without repeats, got {self.resize_modes}")

    def blur_settings(self, stage: Literal[1, 2]) -> BlurSettings:
        """Kernel sampling settings of the first or second blur."""
        suffix = "" if stage == 1 else "2"
        return BlurSettings(
            kernel_list=getattr(self, f"kernel_list{suffix}"),
            kernel_prob=getattr(self, f"kernel_prob{suffix}"),
            sinc_prob=getattr(self, f"sinc_prob{suffix}"),
            blur_sigma=getattr(self, f"blur_sigma{suffix}"),
            betag_range=getattr(self, f"betag_range{suffix}"),
            betap_range=getattr(self, f"betap_range{suffix}"),
            kernel_size_range=self.kernel_size_range,
        )

    def resize_settings(self, stage: Literal[1, 2]) -> ResizeSettings:
        """Random-resize settings of the first or second stage."""
        suffix = "" if stage == 1 else "2"
        return ResizeSettings(
            resize_prob=getattr(self, f"resize_prob{suffix}"),
            resize_range=getattr(self, f"resize_range{suffix}"),
            modes=self.resize_modes,
        )

    def noise_settings(self, stage: Literal[1, 2]) -> NoiseSettings:
        """Noise settings of the first or second stage."""
        suffix = "" if stage == 1 else "2"
        return NoiseSettings(
            gaussian_noise_prob=getattr(self, f"gaussian_noise_prob{suffix}"),
            noise_range=getattr(self, f"noise_range{suffix}"),
            poisson_scale_range=getattr(self, f"poisson_scale_range{suffix}"),
            gray_noise_prob=getattr(self, f"gray_noise_prob{suffix}"),
        )


def _check_probability(name: str, value: float) -> None:
    if not (math.isfinite(value) and 0.0 <= value <= 1.0):
        raise ValueError(f"{name} must be a probability in [0, 1], got {value}")


def _check_probs(name: str, probs: tuple[float, ...], length: int | None = None) -> None:
    if length is not None and len(probs) != length:
        raise ValueError(f"{name} must have {length} entries, got {len(probs)}")
    if any(not (math.isfinite(p) and p >= 0.0) for p in probs):
        raise ValueError(f"{name} entries must be finite and >= 0, got {probs}")
    if abs(sum(probs) - 1.0) > _PROB_SUM_TOLERANCE:
        raise ValueError(f"{name} must sum to 1, got {probs} (sum {sum(probs):.6g})")


def _check_kernel_choice(suffix: str, kernel_list: tuple[str, ...], kernel_prob: tuple[float, ...]) -> None:
    if not kernel_list or len(set(kernel_list)) != len(kernel_list):
        raise ValueError(f"kernel_list{suffix} must be non-empty without repeats, got {kernel_list}")
    if len(kernel_prob) != len(kernel_list):
        raise ValueError(
            f"kernel_prob{suffix} must have one entry per kernel_list{suffix} entry "
            f"({len(kernel_list)}), got {len(kernel_prob)}"
        )
    _check_probs(f"kernel_prob{suffix}", kernel_prob)


def _check_range(
    name: str,
    bounds: tuple[float, float],
    low: float | None = None,
    high: float | None = None,
    low_open: bool = False,
    spans: float | None = None,
) -> None:
    """``bounds`` must be an ordered pair inside [low, high] (``(low, high]`` when ``low_open``).

    ``spans``: a value the range must contain (Real-ESRGAN draws below and above 1 separately).
    """
    if len(bounds) != 2:
        raise ValueError(f"{name} must be a (low, high) pair, got {bounds}")
    lo, hi = bounds
    if not (math.isfinite(lo) and math.isfinite(hi)) or lo > hi:
        raise ValueError(f"{name} must be an ordered (low, high) pair, got {bounds}")
    if low is not None and (lo < low or (low_open and lo == low)):
        raise ValueError(f"{name} must be {'>' if low_open else '>='} {low}, got {bounds}")
    if high is not None and hi > high:
        raise ValueError(f"{name} must be <= {high}, got {bounds}")
    if spans is not None and not lo <= spans <= hi:
        raise ValueError(f"{name} must contain {spans}, got {bounds}")


def _check_kernel_sizes(name: str, bounds: tuple[int, int]) -> None:
    _check_range(name, bounds, low=1)
    if bounds[0] % 2 == 0 or bounds[1] % 2 == 0:
        raise ValueError(f"{name} bounds must be odd, got {bounds}")
