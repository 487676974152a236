"""Image-quality metrics of ``mmsr evaluate``: PSNR and SSIM always, learned ones when available.

PSNR and SSIM follow ``evaluate.convention`` (``orchestration.evaluation.fidelity_convention``).
LPIPS, DISTS (full-reference) and NIQE, MUSIQ, CLIP-IQA (no-reference) come from pyiqa
(IQA-PyTorch), the maintained library that implements all five, each with pyiqa's own default
settings for that name (``pyiqa.default_model_configs``). It is not a dependency of mmsr: it needs
torchvision, and its networks need weight files no one can download at evaluation time. A requested
metric is built only when pyiqa imports and its file is at ``<weights_dir>/<WEIGHT_FILES[name]>``
(passed as the constructor argument ``WEIGHT_ARGUMENTS[name]``); otherwise it is reported
unavailable with the reason and what to install or where to put the file, and the evaluation goes
on without it.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from types import ModuleType
from typing import Any, Protocol

import numpy as np
import torch

from orchestration.evaluation.fidelity_convention import Convention, psnr, ssim
from orchestration.evaluation.quality_metrics_config import OptionalMetric, QualityMetricsConfig

FULL_REFERENCE: frozenset[str] = frozenset({"psnr", "ssim", "lpips", "dists"})
"""Metrics that compare SR with HR; the others score SR alone."""
WEIGHT_FILES: dict[OptionalMetric, str] = {
    "lpips": "lpips.pth", "dists": "dists.pth", "niqe": "niqe.mat", "musiq": "musiq.pth", "clipiqa": "clip-RN50.pt",
}
"""File under ``weights_dir`` each metric is built from: the metric's own weights (LPIPS's linear
layers, DISTS, NIQE's natural-scene statistics, MUSIQ on KonIQ), or for CLIP-IQA, which has no
weights of its own, OpenAI's CLIP ResNet-50 checkpoint. LPIPS's AlexNet and DISTS's VGG16 backbones
come from torchvision's cache."""
WEIGHT_ARGUMENTS: dict[OptionalMetric, str] = {
    "lpips": "pretrained_model_path", "dists": "pretrained_model_path", "niqe": "pretrained_model_path",
    "musiq": "pretrained_model_path", "clipiqa": "backbone",
}
"""The pyiqa constructor argument that takes the file: ``LPIPS``, ``DISTS``, ``NIQE`` and ``MUSIQ``
take ``pretrained_model_path``; ``CLIPIQA`` takes none and loads ``backbone`` (a CLIP name or a
checkpoint path, ``pyiqa.archs.clip_model.load``)."""


class ImageMetric(Protocol):
    name: str
    lower_better: bool

    def __call__(self, sr: np.ndarray, hr: np.ndarray, scale: int) -> float:
        """Score (H, W, 3) uint8 RGB ``sr`` (against ``hr`` of the same shape for full-reference
        metrics); ``scale``: the SR factor (``sr`` is ``scale`` x its LR)."""
        ...


@dataclass(frozen=True)
class Psnr:
    convention: Convention = "basicsr-y"
    name: str = "psnr"
    lower_better: bool = False

    def __call__(self, sr: np.ndarray, hr: np.ndarray, scale: int) -> float:
        return psnr(sr, hr, self.convention, scale)


@dataclass(frozen=True)
class Ssim:
    convention: Convention = "basicsr-y"
    name: str = "ssim"
    lower_better: bool = False

    def __call__(self, sr: np.ndarray, hr: np.ndarray, scale: int) -> float:
        return ssim(sr, hr, self.convention, scale)


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

    def __call__(self, sr: np.ndarray, hr: np.ndarray, scale: int) -> float:
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
    """``pyiqa.create_metric(name, as_loss=False, device=..., <WEIGHT_ARGUMENTS[name]>=weights)``: the
    keyword goes on to the metric's constructor (``pyiqa.models.inference_model.InferenceModel``)."""
    options = {WEIGHT_ARGUMENTS[name]: str(weights)}
    model: Any = backend.create_metric(name, as_loss=False, device=device, **options)
    return PyiqaMetric(name=name, lower_better=bool(model.lower_better), model=model, device=device)


def load_metrics(config: QualityMetricsConfig, load_backend: Callable[[], ModuleType] = import_pyiqa) -> MetricSet:
    """PSNR and SSIM plus every requested learned metric that can be built; the rest with reasons
    (one shared reason when pyiqa itself is missing)."""
    metrics: list[ImageMetric] = [Psnr(config.convention), Ssim(config.convention)]
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
