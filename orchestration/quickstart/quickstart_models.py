"""The quickstart's models, built once from configs (nothing is downloaded) and loaded back through
``from_pretrained`` like hub checkpoints: tiny random depth and segmentation models, and the MMSR
base pipeline the quickstart trains.

The base pipeline is not left random where a pretrained one would not be:

- its autoencoder, the stand-in for a pretrained VAE, is fitted to crops of the demo photos
  (``trainers.models.autoencoder_fitting``; the ``quickstart`` preset's AutoencoderTiny is small
  enough to fit in well under a minute on 2 cores, where a random autoencoder decodes colour noise
  whatever the UNet learns);
- its noise schedule predicts the clean latent (``prediction_type="sample"``): a few hundred CPU
  steps of training then give pictures, where epsilon-prediction still samples noise;
- the UNet and the MMLC stay random: they are what the quickstart trains.

Each model is written to a temporary sibling folder and renamed into place, so an interrupted
build leaves nothing that a later run would take for a finished model.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Callable
from pathlib import Path

import numpy as np
import torch

from orchestration.mmsr_config import MmsrConfig
from pipelines.cropping import random_crop
from pipelines.demo_photos import DEMO_PHOTOS
from pipelines.image_decoding import decode_image
from pipelines.modalities.depth import build_tiny_depth_model
from pipelines.modalities.segmentation import build_tiny_segmentation_model
from pipelines.pixel_range import to_model_range
from trainers.models.autoencoder_fitting import AutoencoderFitConfig, fit_autoencoder
from trainers.models.sr_pipeline import build_pipeline_components

AUTOENCODER_FIT = AutoencoderFitConfig(steps=600, batch_size=16, learning_rate=1e-3)
FIT_CROP_SIZE = 32
FIT_CROPS_PER_PHOTO = 128


def photo_crops(size: int, per_photo: int, seed: int) -> torch.Tensor:
    """(8 * per_photo, 3, size, size) float32 crops of the demo photos in [-1, 1], at positions drawn
    from one generator seeded with ``seed``."""
    rng = np.random.default_rng(seed)
    crops = []
    for photo in DEMO_PHOTOS:
        image = decode_image(photo.read())
        crops += [random_crop(image, size, rng, multiple_of=1).pixels for _ in range(per_photo)]
    return to_model_range(torch.from_numpy(np.stack(crops)).permute(0, 3, 1, 2))


def build_quickstart_base(path: Path, seed: int = 0, fit: AutoencoderFitConfig = AUTOENCODER_FIT) -> Path:
    """The ``quickstart`` preset pipeline (random UNet and MMLC, x0-prediction) with its autoencoder
    fitted to the demo photos (``fit``; the wiring tests fit a few steps), saved to ``path``."""
    pipeline = build_pipeline_components("quickstart", path, seed=seed, prediction_type="sample")
    images = photo_crops(FIT_CROP_SIZE, FIT_CROPS_PER_PHOTO, seed)
    fit_autoencoder(pipeline.vae, images, fit, torch.Generator().manual_seed(seed))
    return pipeline.save_pretrained(path)


def build_once(path: Path, build: Callable[[Path], Path]) -> None:
    """``build(path)`` unless ``path`` exists; built in a sibling folder and renamed into place."""
    if path.exists():
        return
    partial = path.with_name(f".{path.name}.partial-{os.getpid()}")
    shutil.rmtree(partial, ignore_errors=True)
    try:
        build(partial)
        try:
            os.replace(partial, path)
        except OSError:
            if not path.exists():  # else a concurrent quickstart finished the same model first
                raise
    finally:
        shutil.rmtree(partial, ignore_errors=True)


def ensure_quickstart_models(config: MmsrConfig) -> None:
    """Build each quickstart model once (a second quickstart reuses them)."""
    builders: dict[str, Callable[[Path], Path]] = {
        config.preprocess.modalities.depth_model: build_tiny_depth_model,
        config.preprocess.modalities.segmentation_model: build_tiny_segmentation_model,
        config.train.base_model: build_quickstart_base,
    }
    for path, build in builders.items():
        Path(path).parent.mkdir(parents=True, exist_ok=True)
        build_once(Path(path), build)
