"""Monocular relative depth with Depth Anything (any ``AutoModelForDepthEstimation`` checkpoint)."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from transformers import (
    AutoImageProcessor,
    AutoModelForDepthEstimation,
    DepthAnythingConfig,
    DepthAnythingForDepthEstimation,
    Dinov2Config,
    DPTImageProcessorPil,
)

from pipelines.modalities.batching import predict_by_shape
from pipelines.modalities.depth_input import DepthInputSpec, depth_pixel_values
from pipelines.modalities.extractor import DEFAULT_DEPTH_MODEL

_IMAGENET_MEAN = [0.485, 0.456, 0.406]
_IMAGENET_STD = [0.229, 0.224, 0.225]


def normalize_depth(depth: np.ndarray) -> np.ndarray:
    """(H, W) raw model output -> (H, W) float32 min-max scaled to [0, 1]; all zeros if constant."""
    depth = depth.astype(np.float32)
    low, high = float(depth.min()), float(depth.max())
    if not high > low:
        return np.zeros_like(depth)
    return np.clip((depth - low) / (high - low), 0.0, 1.0)


class DepthEstimator:
    """A depth model and its image processor, loaded once, predicting on numpy images.

    ``model_id`` is a Hub id or a local folder; both go through ``from_pretrained``.
    Depth Anything predicts relative inverse depth, so after normalisation 1 is nearest.
    """

    def __init__(self, model_id: str = DEFAULT_DEPTH_MODEL, revision: str | None = None, device: str = "cpu") -> None:
        self.device = torch.device(device)
        processor = AutoImageProcessor.from_pretrained(model_id, revision=revision)
        self.input_spec = DepthInputSpec.from_processor(processor)
        model = AutoModelForDepthEstimation.from_pretrained(model_id, revision=revision, use_safetensors=True)
        self.model = model.to(self.device).eval()

    def predict(self, images: Sequence[np.ndarray]) -> list[np.ndarray]:
        """(H, W, 3) uint8 RGB images -> (H, W) float32 relative depth in [0, 1], one per image.

        Images of one size run as one batch, preprocessed and resized back together on the model's
        device (:mod:`pipelines.modalities.depth_input`); differently sized images run in separate batches.
        """
        return predict_by_shape(images, self._predict_same_size)

    @torch.inference_mode()
    def _predict_same_size(self, images: list[np.ndarray]) -> list[np.ndarray]:
        height, width = images[0].shape[:2]
        pixels = torch.from_numpy(np.stack(images)).to(self.device)
        pixel_values = depth_pixel_values(pixels, self.input_spec).to(self.model.dtype)
        predicted = self.model(pixel_values=pixel_values).predicted_depth.float()  # (N, h, w)
        depth = F.interpolate(predicted[:, None], size=(height, width), mode="bicubic", align_corners=False)[:, 0]
        return [normalize_depth(map_) for map_ in depth.cpu().numpy()]


def build_tiny_depth_model(path: Path, seed: int = 0) -> Path:
    """Save a tiny random Depth Anything (Dinov2 backbone) and its processor to ``path``.

    Loads back through :class:`DepthEstimator` exactly like a Hub checkpoint. Weights are
    drawn from a private seeded RNG; the global torch RNG is left untouched.
    """
    backbone = Dinov2Config(
        hidden_size=16,
        num_hidden_layers=4,
        num_attention_heads=2,
        intermediate_size=32,
        image_size=56,
        patch_size=14,
        out_features=["stage1", "stage2", "stage3", "stage4"],
        reshape_hidden_states=False,
    )
    config = DepthAnythingConfig(
        backbone_config=backbone,
        patch_size=14,
        reassemble_hidden_size=16,
        neck_hidden_sizes=[8, 8, 16, 16],
        fusion_hidden_size=8,
        head_hidden_size=8,
    )
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        model = DepthAnythingForDepthEstimation(config).eval()
    processor = DPTImageProcessorPil(
        size={"height": 56, "width": 56},
        keep_aspect_ratio=True,
        ensure_multiple_of=14,
        resample=3,  # bicubic, as Depth Anything V2
        image_mean=_IMAGENET_MEAN,
        image_std=_IMAGENET_STD,
    )
    model.save_pretrained(path)
    processor.save_pretrained(path)
    return path
