"""Fixtures for the preprocessing-job tests: tiny models built once, the demo photos, small configs.

The tiny depth, segmentation and MMSR models (its ``vq/`` and ``tokenizer/``) are built from
configs and saved once per session, then loaded back by the job through ``from_pretrained``
exactly like hub checkpoints. :func:`small_job` gives a valid, fast job config (64 px crops) and a
fresh feature store under a directory of the caller's choosing.
"""

from __future__ import annotations

import dataclasses
import shutil
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import torch

from featurestore.config import FeatureStoreConfig
from pipelines.demo_photos import DemoPhotos, write_demo_photos
from pipelines.modalities.depth import build_tiny_depth_model
from pipelines.modalities.extractor import ModalityExtractionConfig
from pipelines.modalities.segmentation import build_tiny_segmentation_model
from pipelines.preprocess_config import PreprocessConfig, TokenizerConfig
from trainers.models.sr_pipeline import build_tiny_pipeline

FEW_PHOTOS = ("astronaut.png", "chelsea.png", "coffee.png", "flower.jpg")
"""Four of the demo photos (two PNG, one JPEG, one of each size class): enough for every check."""


@dataclass(frozen=True)
class TinyModels:
    """Local folders of tiny random models, each loadable with ``from_pretrained``."""

    depth: Path
    segmentation: Path
    mmsr: Path
    """A tiny MMSR pipeline: its ``vq/`` is the VQ tokenizer, its ``tokenizer/`` the CLIP tokenizer."""


@dataclass(frozen=True)
class SmallJob:
    """A job config and the (fresh) feature store it commits to."""

    preprocess: PreprocessConfig
    store: FeatureStoreConfig

    def with_(self, **changes: Any) -> SmallJob:
        """This job with ``PreprocessConfig`` fields replaced (e.g. ``crops_per_image=2``)."""
        return dataclasses.replace(self, preprocess=dataclasses.replace(self.preprocess, **changes))


@pytest.fixture(scope="session")
def tiny_models(tmp_path_factory: pytest.TempPathFactory) -> TinyModels:
    root = tmp_path_factory.mktemp("tiny-models")
    return TinyModels(
        depth=build_tiny_depth_model(root / "depth"),
        segmentation=build_tiny_segmentation_model(root / "segmentation"),
        mmsr=build_tiny_pipeline(root / "mmsr"),
    )


@pytest.fixture(scope="session")
def demo_photos(tmp_path_factory: pytest.TempPathFactory) -> DemoPhotos:
    """All demo photos and their ``captions.jsonl`` (do not modify: shared by the session)."""
    return write_demo_photos(tmp_path_factory.mktemp("sample-photos"))


def copy_photos(photos: DemoPhotos, dest: Path, names: tuple[str, ...] = FEW_PHOTOS) -> list[str]:
    """Copy ``names`` of the demo photos into ``dest`` (created); their sorted absolute paths."""
    dest.mkdir(parents=True, exist_ok=True)
    for name in names:
        shutil.copyfile(photos.image_dir / name, dest / name)
    return sorted(str((dest / name).resolve()) for name in names)


def small_job(models: TinyModels, photos: DemoPhotos, input_spec: str, root: Path) -> SmallJob:
    """A valid small job reading ``input_spec`` (64 px crops, one per image, all modalities) and a
    feature store under ``root`` (SQLite catalog, local warehouse)."""
    preprocess = PreprocessConfig(
        input=input_spec,
        crop_size=64,
        crops_per_image=1,
        eval_fraction=0.25,
        max_error_rate=0.0,
        rows_per_file=4,
        modalities=ModalityExtractionConfig(
            depth_model=str(models.depth),
            segmentation_model=str(models.segmentation),
            captions_path=str(photos.captions_path),
            batch_size=4,
        ),
        tokenizer=TokenizerConfig(vq_model=str(models.mmsr), vq_subfolder="vq", clip_model=str(models.mmsr)),
    )
    store = FeatureStoreConfig(catalog_uri=f"sqlite:///{root}/catalog.db", warehouse=str(root / "warehouse"))
    return SmallJob(preprocess=preprocess, store=store)


@pytest.fixture
def job(tiny_models: TinyModels, demo_photos: DemoPhotos, tmp_path: Path) -> SmallJob:
    """A small job over four demo photos (copied into this test's tmp dir) and a fresh store."""
    copy_photos(demo_photos, tmp_path / "hr")
    return small_job(tiny_models, demo_photos, str(tmp_path / "hr"), tmp_path / "store")


@pytest.fixture(scope="module")
def one_torch_thread() -> Iterator[None]:
    """Run torch on one intra-op thread for a whole module (tiny models; two threads thrash on a
    shared 2-core box, and results must not depend on which test ran first)."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)
