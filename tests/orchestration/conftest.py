"""A tiny MMSR pipeline registered in a tmp SQLite MLflow, shared by the orchestration tests."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace
from pathlib import Path

import cv2
import numpy as np
import pytest

from featurestore.config import FeatureStoreConfig
from orchestration.registry.model_registry import RegisteredVersion, register_pipeline
from orchestration.serving import sr_pyfunc
from orchestration.serving.lr_modalities import LrModalities
from orchestration.serving.serve_config import ServeConfig
from pipelines.demo_photos import DEMO_PHOTOS
from pipelines.feature_rows import encode_png
from pipelines.image_decoding import decode_image
from tests.featurestore.conftest import commit_rows, sample_row
from trainers.models.presets import ModelPreset, ModelSizes, model_sizes
from trainers.models.sampling_options import SamplingOptions
from trainers.models.sr_pipeline import build_tiny_pipeline
from trainers.tracking.mlflow_runs import create_run, experiment_id, tracking_client
from trainers.tracking.tracking_config import TrackingConfig


def make_eval_store(root: Path) -> FeatureStoreConfig:
    """A feature store with one snapshot: 4 rows of 64x64 HR / 16x16 LR, 2 of them in the eval split."""
    rng = np.random.default_rng(1)
    rows = []
    for index in range(4):
        row = sample_row(index)
        hr = rng.integers(0, 256, (64, 64, 3), dtype=np.uint8)
        row.update(hr_png=encode_png(hr), lr_png=encode_png(hr[::4, ::4]), split="eval" if index < 2 else "train")
        rows.append(row)
    return commit_rows(root, "eval-run", rows, config_hash="test")


def make_photo_eval_store(root: Path) -> FeatureStoreConfig:
    """A feature store with one snapshot: 4 crops of the demo photos (64x64 HR, 16x16 area-downsampled
    LR), 2 of them in the eval split, so bicubic upscaling scores as it does on real images."""
    photos = [decode_image(photo.read()) for photo in DEMO_PHOTOS[:4]]
    rows = []
    for index, photo in enumerate(photos):
        hr = np.ascontiguousarray(photo[100:164, 100:164])
        lr = cv2.resize(hr, (16, 16), interpolation=cv2.INTER_AREA)
        row = sample_row(index)
        row.update(hr_png=encode_png(hr), lr_png=encode_png(lr), split="eval" if index < 2 else "train")
        rows.append(row)
    return commit_rows(root, "photo-eval-run", rows, config_hash="test")


class _LrCaptioner:
    """Stands in for the packaged captioner: captions an image by its size and records what it saw."""

    def __init__(self) -> None:
        self.seen: list[np.ndarray] = []

    def caption(self, images: list[np.ndarray]) -> list[str]:
        self.seen.extend(images)
        return [f"generated from a {image.shape[1]}x{image.shape[0]} image" for image in images]


def make_oracle_store(root: Path) -> FeatureStoreConfig:
    """2 eval rows (64x64 HR, 16x16 LR) whose stored caption is "ORACLE"."""
    rng = np.random.default_rng(2)
    rows = []
    for index in range(2):
        hr = rng.integers(0, 256, (64, 64, 3), dtype=np.uint8)
        row = sample_row(index)
        row.update(hr_png=encode_png(hr), lr_png=encode_png(hr[::4, ::4]), split="eval", caption="ORACLE")
        rows.append(row)
    return commit_rows(root, "oracle-run", rows, config_hash="test")


def oracle_spy(monkeypatch: pytest.MonkeyPatch) -> tuple[_LrCaptioner, list[str | None]]:
    """Package a fake captioner with every model loaded from here on, and record the captions the
    diffusion pipeline is given (after the model filled the missing ones)."""
    captioner, received = _LrCaptioner(), []
    monkeypatch.setattr(LrModalities, "load", classmethod(lambda cls, *args, **kwargs: cls(captioner=captioner)))
    original = sr_pyfunc.super_resolve_batch

    def spy(pipeline, images, captions, options, extractors):  # type: ignore[no-untyped-def]
        received.extend(captions)
        return original(pipeline, images, captions, options, extractors)

    monkeypatch.setattr(sr_pyfunc, "super_resolve_batch", spy)
    return captioner, received


def fast_sizes(preset: ModelPreset) -> ModelSizes:
    """The preset with 8-channel autoencoder and UNet blocks, no UNet attention but the mid block's,
    and 64-latent-pixel UNet tiles: its autoencoder kind, cheap enough to serve a 2 Mpx output on a CPU."""
    sizes = model_sizes(preset)
    vae = replace(sizes.vae, block_out_channels=(8, 8, 8), norm_num_groups=8)
    unet = replace(
        sizes.unet, block_out_channels=(8, 16), norm_num_groups=8, attention_levels=(False, False), sample_size=64
    )
    return replace(sizes, vae=vae, unet=unet)


@pytest.fixture(scope="session")
def pipeline_dirs(tmp_path_factory: pytest.TempPathFactory) -> Callable[[str, ModelPreset | ModelSizes], Path]:
    """``pipeline_dirs(name, preset)``: a tiny random pipeline of those sizes, saved once per session."""
    built: dict[str, Path] = {}

    def build(name: str, preset: ModelPreset | ModelSizes) -> Path:
        if name not in built:
            built[name] = build_tiny_pipeline(tmp_path_factory.mktemp("models") / name, preset)
        return built[name]

    return build


@pytest.fixture(scope="session")
def tiny_pipeline_dir(pipeline_dirs: Callable[[str, ModelPreset | ModelSizes], Path]) -> Path:
    """The ``tiny`` preset: an AutoencoderKL (the quickstart's AutoencoderTiny: ``fast_sizes("quickstart")``)."""
    return pipeline_dirs("mmsr-tiny", "tiny")


@pytest.fixture(scope="module")
def tracking(tmp_path_factory: pytest.TempPathFactory) -> TrackingConfig:
    root = tmp_path_factory.mktemp("mlflow")
    return TrackingConfig(tracking_uri=f"sqlite:///{root}/mlflow.db", artifact_location=str(root / "artifacts"))


def register_test_pipeline(tracking: TrackingConfig, pipeline_dir: Path) -> RegisteredVersion:
    """``pipeline_dir`` registered as a new version (a run of its own, serving defaults of 2 steps)."""
    client = tracking_client(tracking)
    run_id = create_run(client, experiment_id(client, tracking), "test", {"source": "test"})
    return register_pipeline(tracking, ServeConfig(sampling=SamplingOptions(steps=2)), run_id, str(pipeline_dir), {"mmsr.test": "yes"})


@pytest.fixture(scope="module")
def registered(tracking: TrackingConfig, tiny_pipeline_dir: Path) -> RegisteredVersion:
    return register_test_pipeline(tracking, tiny_pipeline_dir)
