"""PSNR/SSIM always; learned metrics through a pyiqa backend (a fake one here) or reported unavailable."""

from __future__ import annotations

from pathlib import Path
from types import ModuleType, SimpleNamespace

import numpy as np
import pytest
import torch

from orchestration.evaluation.quality_metrics import WEIGHT_FILES, QualityMetricsConfig, load_metrics


def _images() -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(0)
    hr = rng.integers(0, 256, (16, 16, 3), dtype=np.uint8)
    return np.clip(hr.astype(int) + 10, 0, 255).astype(np.uint8), hr


class _FakeMetric:
    """Mean absolute difference (full-reference) or mean brightness (no-reference), in [0, 1] units."""

    def __init__(self, lower_better: bool) -> None:
        self.lower_better = lower_better

    def __call__(self, sr: torch.Tensor, hr: torch.Tensor | None = None) -> torch.Tensor:
        assert sr.shape[:2] == (1, 3) and float(sr.max()) <= 1.0
        return (sr - hr).abs().mean(dim=(1, 2, 3)) if hr is not None else sr.mean(dim=(1, 2, 3))


def _fake_pyiqa(created: list[dict]) -> ModuleType:
    def create_metric(name: str, **kwargs: object) -> _FakeMetric:
        created.append({"name": name, **kwargs})
        return _FakeMetric(lower_better=name in {"lpips", "dists", "niqe"})

    return SimpleNamespace(create_metric=create_metric)  # type: ignore[return-value]


def _missing() -> ModuleType:
    raise ImportError("No module named 'pyiqa'")


def test_without_pyiqa_every_requested_metric_is_unavailable_with_a_reason() -> None:
    metric_set = load_metrics(QualityMetricsConfig(weights_dir="/nowhere"), load_backend=_missing)
    assert [m.name for m in metric_set.metrics] == ["psnr", "ssim"]
    assert sorted(metric_set.unavailable) == ["clipiqa", "dists", "lpips", "musiq", "niqe"]
    assert "No module named 'pyiqa'" in metric_set.unavailable["lpips"]
    assert "lpips.pth, dists.pth, niqe.mat, musiq.pth, clipiqa.pth in /nowhere" in metric_set.unavailable["lpips"]
    assert len(metric_set.unavailable_lines()) == 1
    assert metric_set.unavailable_lines()[0].startswith("metric(s) lpips, dists, niqe, musiq, clipiqa unavailable: pyiqa")


def test_no_learned_metrics_requested_never_touches_the_backend() -> None:
    metric_set = load_metrics(QualityMetricsConfig(metrics=()), load_backend=_missing)
    assert [m.name for m in metric_set.metrics] == ["psnr", "ssim"] and metric_set.unavailable == {}


def test_metrics_with_local_weights_are_built_others_reported(tmp_path: Path) -> None:
    (tmp_path / WEIGHT_FILES["lpips"]).write_bytes(b"weights")
    (tmp_path / WEIGHT_FILES["musiq"]).write_bytes(b"weights")
    created: list[dict] = []
    config = QualityMetricsConfig(metrics=("lpips", "musiq", "dists"), weights_dir=str(tmp_path))
    metric_set = load_metrics(config, load_backend=lambda: _fake_pyiqa(created))
    assert [m.name for m in metric_set.metrics] == ["psnr", "ssim", "lpips", "musiq"]
    assert created[0]["pretrained_model_path"] == str(tmp_path / "lpips.pth")
    assert list(metric_set.unavailable) == ["dists"] and "weights not found" in metric_set.unavailable["dists"]
    sr, hr = _images()
    lpips, musiq = metric_set.metrics[2], metric_set.metrics[3]
    assert lpips.lower_better and not musiq.lower_better
    assert lpips(sr, hr) == pytest.approx(10 / 255, abs=1e-3)
    assert lpips(hr, hr) == 0.0
    assert musiq(sr, hr) == pytest.approx(sr.mean() / 255, abs=1e-5)


def test_a_metric_the_backend_cannot_build_is_unavailable(tmp_path: Path) -> None:
    (tmp_path / WEIGHT_FILES["clipiqa"]).write_bytes(b"weights")

    def failing(name: str, **kwargs: object) -> None:
        raise OSError("cannot download the CLIP backbone")

    config = QualityMetricsConfig(metrics=("clipiqa",), weights_dir=str(tmp_path))
    metric_set = load_metrics(config, load_backend=lambda: SimpleNamespace(create_metric=failing))  # type: ignore[arg-type, return-value]
    assert "cannot download the CLIP backbone" in metric_set.unavailable["clipiqa"]


def test_psnr_ssim_values_and_unknown_metric_config() -> None:
    sr, hr = _images()
    psnr, ssim = load_metrics(QualityMetricsConfig(metrics=())).metrics
    assert psnr(hr, hr) == 100.0 and ssim(hr, hr) == pytest.approx(1.0)
    assert 25.0 < psnr(sr, hr) < 30.0
    with pytest.raises(ValueError, match="differs"):
        psnr(sr[:8], hr)
    with pytest.raises(ValueError, match="unknown entries \\['fid'\\]"):
        QualityMetricsConfig(metrics=("fid",))  # type: ignore[arg-type]
