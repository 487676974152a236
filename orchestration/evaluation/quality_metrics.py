"""Image-quality metrics of ``mmsr evaluate``: PSNR and SSIM always, learned ones when available.

LPIPS, DISTS (full-reference) and NIQE, MUSIQ, CLIP-IQA (no-reference) come from pyiqa
(IQA-PyTorch), the maintained library that implements all five. It is not a dependency of mmsr:
it needs torchvision, and its networks need weight files no one can download at evaluation time.
A requested metric is built only when pyiqa imports and its weights file is at
``<weights_dir>/<WEIGHT_FILES[name]>``; otherwise it is reported unavailable with the reason and
what to install or where to put the file, and the evaluation goes on without it.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from types import ModuleType
from typing import Any, Protocol

import numpy as np
import torch
from skimage.metrics import peak_signal_noise_ratio, structural_similarity

from orchestration.evaluation.quality_metrics_config import OptionalMetric, QualityMetricsConfig

FULL_REFERENCE: frozenset[str] = frozenset({"psnr", "ssim", "lpips", "dists"})
"""Metrics that compare SR with HR; the others score SR alone."""
WEIGHT_FILES: dict[OptionalMetric, str] = {
    "lpips": "lpips.pth", "dists": "dists.pth", "niqe": "niqe.mat", "musiq": "musiq.pth", "clipiqa": "clipiqa.pth",
}
"""File under ``weights_dir`` passed to pyiqa as ``pretrained_model_path`` (the metric's own weights;
backbones such as VGG or CLIP come from pyiqa's cache)."""
PSNR_CAP = 100.0
"""PSNR of identical images (infinite) is reported as this."""


class ImageMetric(Protocol):
    name: str
    lower_better: bool

    def __call__(self, sr: np.ndarray, hr: np.ndarray) -> float:
        """Score (H, W, 3) uint8 RGB ``sr`` (against ``hr`` of the same shape for full-reference metrics)."""
        ...


@dataclass(frozen=True)
class Psnr:
    name: str = "psnr"
    lower_better: bool = False

    def __call__(self, sr: np.ndarray, hr: np.ndarray) -> float:
        _check_shapes(sr, hr)
        if np.array_equal(sr, hr):
            return PSNR_CAP
        return float(min(peak_signal_noise_ratio(hr, sr, data_range=255), PSNR_CAP))


@dataclass(frozen=True)
class Ssim:
    name: str = "ssim"
    lower_better: bool = False

    def __call__(self, sr: np.ndarray, hr: np.ndarray) -> float:
        _check_shapes(sr, hr)
        return float(structural_similarity(hr, sr, channel_axis=2, data_range=255))


def _check_shapes(sr: np.ndarray, hr: np.ndarray) -> None:
    if sr.shape != hr.shape:
        raise ValueError(f"SR shape {sr.shape} differs from HR shape {hr.shape}")


def to_unit_tensor(rgb: np.ndarray, device: str) -> torch.Tensor:
    """(H, W, 3) uint8 RGB -> (1, 3, H, W) float32 in [0, 1] (pyiqa's input convention)."""
    return torch.from_numpy(np.ascontiguousarray(rgb)).permute(2, 0, 1)[None].float().div(255.0).to(device)


@dataclass(frozen=True)
class PyiqaMetric:
    """A pyiqa metric (``pyiqa.create_metric``) behind the ImageMetric interface."""

    name: str
    lower_better: bool
    model: Callable[..., torch.Tensor]
    device: str

    def __call__(self, sr: np.ndarray, hr: np.ndarray) -> float:
        if self.name not in FULL_REFERENCE:
            with torch.no_grad():
                return float(self.model(to_unit_tensor(sr, self.device)).mean())
        _check_shapes(sr, hr)
        with torch.no_grad():
            return float(self.model(to_unit_tensor(sr, self.device), to_unit_tensor(hr, self.device)).mean())


@dataclass(frozen=True)
class MetricSet:
    metrics: tuple[ImageMetric, ...]
    """PSNR, SSIM, then each available requested metric."""
    unavailable: dict[str, str] = field(default_factory=dict)
    """Requested metric -> why it is not computed and how to make it available."""

    def unavailable_lines(self) -> list[str]:
        """One ``metric(s) A, B unavailable: <reason>`` line per distinct reason."""
        by_reason: dict[str, list[str]] = {}
        for name, reason in self.unavailable.items():
            by_reason.setdefault(reason, []).append(name)
        return [f"metric(s) {', '.join(names)} unavailable: {reason}" for reason, names in by_reason.items()]


def import_pyiqa() -> ModuleType:
    """The pyiqa module (ImportError, or any error its import raises, when it cannot be used)."""
    import pyiqa

    return pyiqa


def _build_pyiqa(backend: ModuleType, name: OptionalMetric, weights: Path, device: str) -> ImageMetric:
    model: Any = backend.create_metric(name, device=device, as_loss=False, pretrained_model_path=str(weights))
    return PyiqaMetric(name=name, lower_better=bool(model.lower_better), model=model, device=device)


def load_metrics(config: QualityMetricsConfig, load_backend: Callable[[], ModuleType] = import_pyiqa) -> MetricSet:
    """PSNR and SSIM plus every requested learned metric that can be built; the rest with reasons
    (one shared reason when pyiqa itself is missing)."""
    metrics: list[ImageMetric] = [Psnr(), Ssim()]
    unavailable: dict[str, str] = {}
    if not config.metrics:
        return MetricSet(tuple(metrics))
    weights_dir = Path(config.weights_dir)
    try:
        backend: ModuleType | None = load_backend()
        backend_error = ""
    except Exception as error:  # a broken install raises more than ImportError (e.g. torchvision's)
        backend, backend_error = None, f"{type(error).__name__}: {error}"
    if backend is None:
        files = ", ".join(WEIGHT_FILES[name] for name in config.metrics)
        reason = f"pyiqa cannot be imported ({backend_error}); install pyiqa (it needs torchvision) and put {files} in {weights_dir}"
        return MetricSet(tuple(metrics), {name: reason for name in config.metrics})
    for name in config.metrics:
        weights = weights_dir / WEIGHT_FILES[name]
        if not weights.is_file():
            unavailable[name] = f"weights not found; put the pyiqa {name} weights at {weights}"
        else:
            try:
                metrics.append(_build_pyiqa(backend, name, weights, config.device))
            except Exception as error:  # missing backbone weights, offline download attempts, ...
                unavailable[name] = f"pyiqa could not build it from {weights}: {type(error).__name__}: {error}"
    return MetricSet(tuple(metrics), unavailable)
