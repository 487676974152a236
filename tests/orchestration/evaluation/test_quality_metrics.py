"""PSNR/SSIM always; learned metrics through a pyiqa backend (a fake one here) or reported unavailable."""

from __future__ import annotations

from pathlib import Path
from types import ModuleType, SimpleNamespace

import numpy as np
import pytest
import torch

from orchestration.config_loading import ConfigError, parse_config
from orchestration.evaluation.quality_metrics import WEIGHT_FILES, QualityMetricsConfig, load_metrics
from orchestration.mmsr_config import MmsrConfig


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
    assert "lpips.pth, dists.pth, niqe.mat, musiq.pth, clip-RN50.pt in /nowhere" in metric_set.unavailable["lpips"]
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
    assert lpips(sr, hr, 4) == pytest.approx(10 / 255, abs=1e-3)
    assert lpips(hr, hr, 4) == 0.0
    assert musiq(sr, hr, 4) == pytest.approx(sr.mean() / 255, abs=1e-5)


def test_a_metric_the_backend_cannot_build_is_unavailable(tmp_path: Path) -> None:
    (tmp_path / WEIGHT_FILES["clipiqa"]).write_bytes(b"weights")

    def failing(name: str, **kwargs: object) -> None:
        raise OSError("cannot download the CLIP backbone")

    config = QualityMetricsConfig(metrics=("clipiqa",), weights_dir=str(tmp_path))
    metric_set = load_metrics(config, load_backend=lambda: SimpleNamespace(create_metric=failing))  # type: ignore[arg-type, return-value]
    assert "cannot download the CLIP backbone" in metric_set.unavailable["clipiqa"]


def test_psnr_ssim_values_follow_the_convention_and_bad_config() -> None:
    sr, hr = _images()
    psnr, ssim = load_metrics(QualityMetricsConfig(metrics=())).metrics
    assert psnr.convention == "basicsr-y" and ssim.convention == "basicsr-y"
    assert psnr(hr, hr, 2) == 100.0 and ssim(hr, hr, 2) == pytest.approx(1.0)
    assert 25.0 < psnr(sr, hr, 2) < 30.0
    rgb_psnr, _ = load_metrics(QualityMetricsConfig(metrics=(), convention="rgb")).metrics
    assert rgb_psnr(sr, hr, 2) != psnr(sr, hr, 2)
    with pytest.raises(ValueError, match="differs"):
        psnr(sr[:8], hr, 2)
    with pytest.raises(ValueError, match="unknown entries \\['fid'\\]"):
        QualityMetricsConfig(metrics=("fid",))  # type: ignore[arg-type]
    with pytest.raises(ConfigError, match="evaluate.convention"):
        parse_config(MmsrConfig, {"evaluate": {"convention": "matlab"}})
    with pytest.raises(ConfigError, match="evaluate.caption_source"):
        parse_config(MmsrConfig, {"evaluate": {"caption_source": "hr"}})
    loaded = parse_config(MmsrConfig, {"evaluate": {"convention": "pyiqa-y", "caption_source": "stored"}}).evaluate
    assert (loaded.convention, loaded.caption_source) == ("pyiqa-y", "stored")
    for key, value in (("num_workers", 0), ("batch_size", 0), ("gpus_per_worker", -1), ("threads_per_worker", 0)):
        with pytest.raises(ConfigError, match=f"evaluate.{key}"):
            parse_config(MmsrConfig, {"evaluate": {key: value}})
    workers = parse_config(MmsrConfig, {"evaluate": {"num_workers": 3, "gpus_per_worker": 0.5, "seed": 9}}).evaluate
    assert (workers.num_workers, workers.gpus_per_worker, workers.seed, workers.batch_size) == (3, 0.5, 9, 4)


# The constructors pyiqa's ``create_metric(name, **kwargs)`` ends in for each name (its
# ``InferenceModel`` merges ``default_model_configs.DEFAULT_CONFIGS[name]['metric_opts']`` with the
# kwargs and builds the arch with them), copied as signatures only from IQA-PyTorch at commit
# 01ae427f9afd66842031d3a7cb694dcad5b5cbb8 (pyiqa/archs/{lpips,dists,niqe,musiq,clipiqa}_arch.py).
def _lpips(pretrained=True, net="alex", version="0.1", lpips=True, spatial=False, pnet_rand=False,  # type: ignore[no-untyped-def]
           pnet_tune=False, use_dropout=True, pretrained_model_path=None, eval_mode=True, semantic_weight_layer=-1, **kwargs):
    return pretrained_model_path


def _dists(pretrained=True, pretrained_model_path=None, **kwargs):  # type: ignore[no-untyped-def]
    return pretrained_model_path


def _niqe(channels=1, test_y_channel=True, color_space="yiq", crop_border=0, version="original",  # type: ignore[no-untyped-def]
          pretrained_model_path=None):
    return pretrained_model_path


def _musiq(patch_size=32, num_class=1, hidden_size=384, mlp_dim=1152, attention_dropout_rate=0.0,  # type: ignore[no-untyped-def]
           dropout_rate=0, num_heads=6, num_layers=14, num_scales=3, spatial_pos_grid_size=10, use_scale_emb=True,
           use_sinusoid_pos_emb=False, pretrained=True, pretrained_model_path=None,
           longer_side_lengths=(224, 384), max_seq_len_from_original_res=-1):
    return pretrained_model_path


def _clipiqa(model_type="clipiqa", backbone="RN50", pretrained=True, pos_embedding=False):  # type: ignore[no-untyped-def]
    return backbone  # a CLIP name or a checkpoint path (pyiqa.archs.clip_model.load)


_ARCHS = {"lpips": _lpips, "dists": _dists, "niqe": _niqe, "musiq": _musiq, "clipiqa": _clipiqa}
_METRIC_OPTS = {"lpips": {"net": "alex", "version": "0.1"}, "dists": {}, "niqe": {"test_y_channel": True},
                "musiq": {"pretrained": "koniq10k"}, "clipiqa": {}}


def test_every_adapter_passes_only_arguments_pyiqas_constructors_take(tmp_path: Path) -> None:
    for file in WEIGHT_FILES.values():
        (tmp_path / file).write_bytes(b"weights")
    loaded_from: dict[str, str] = {}

    def create_metric(name: str, as_loss: bool = False, device: object = None, **kwargs: object) -> _FakeMetric:
        loaded_from[name] = _ARCHS[name](**{**_METRIC_OPTS[name], **kwargs})  # TypeError on an unknown argument
        return _FakeMetric(lower_better=name in {"lpips", "dists", "niqe"})

    config = QualityMetricsConfig(weights_dir=str(tmp_path))
    metric_set = load_metrics(config, load_backend=lambda: SimpleNamespace(create_metric=create_metric))  # type: ignore[arg-type, return-value]
    assert metric_set.unavailable == {}
    assert [m.name for m in metric_set.metrics] == ["psnr", "ssim", "lpips", "dists", "niqe", "musiq", "clipiqa"]
    assert loaded_from == {name: str(tmp_path / file) for name, file in WEIGHT_FILES.items()}
