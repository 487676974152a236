"""Semantic segmentation with Mask2Former (ADE20K's 150 classes by default)."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np
import torch
from transformers import (
    AutoImageProcessor,
    Mask2FormerConfig,
    Mask2FormerForUniversalSegmentation,
    Mask2FormerImageProcessorPil,
    SwinConfig,
)

from pipelines.modalities.batching import predict_by_shape
from pipelines.modalities.extractor import DEFAULT_SEGMENTATION_MODEL

ADE20K_NUM_LABELS = 150
_MAX_LABELS = int(np.iinfo(np.uint16).max) + 1


class SegmentationEstimator:
    """A Mask2Former model and its image processor, loaded once, predicting on numpy images.

    ``model_id`` is a Hub id or a local folder; both go through ``from_pretrained``.
    """

    def __init__(
        self, model_id: str = DEFAULT_SEGMENTATION_MODEL, revision: str | None = None, device: str = "cpu"
    ) -> None:
        self.device = torch.device(device)
        self.processor = AutoImageProcessor.from_pretrained(model_id, revision=revision)
        model = Mask2FormerForUniversalSegmentation.from_pretrained(model_id, revision=revision)
        if model.config.num_labels > _MAX_LABELS:
            raise ValueError(f"{model_id} has {model.config.num_labels} labels; class-id maps are uint16")
        self.model = model.to(self.device).eval()

    @property
    def id2label(self) -> dict[int, str]:
        """Class id -> class name, as the checkpoint defines them."""
        return dict(self.model.config.id2label)

    def predict(self, images: Sequence[np.ndarray]) -> list[np.ndarray]:
        """(H, W, 3) uint8 RGB images -> (H, W) uint16 class-id maps, one per image.

        Images of one size run as one batch; differently sized images run in separate batches.
        """
        return predict_by_shape(images, self._predict_same_size)

    @torch.inference_mode()
    def _predict_same_size(self, images: list[np.ndarray]) -> list[np.ndarray]:
        height, width = images[0].shape[:2]
        inputs = self.processor(images=images, return_tensors="pt", input_data_format="channels_last")
        outputs = self.model(
            pixel_values=inputs["pixel_values"].to(self.device, self.model.dtype),
            pixel_mask=inputs["pixel_mask"].to(self.device),
        )
        maps = self.processor.post_process_semantic_segmentation(outputs, target_sizes=[(height, width)] * len(images))
        return [label_map.cpu().numpy().astype(np.uint16) for label_map in maps]


def build_tiny_segmentation_model(path: Path, seed: int = 0, num_queries: int = 4) -> Path:
    """Save a tiny random Mask2Former (Swin backbone, 150 ADE20K-sized labels) and its processor.

    Loads back through :class:`SegmentationEstimator` exactly like a Hub checkpoint. Weights
    are drawn from a private seeded RNG; the global torch RNG is left untouched.
    """
    backbone = SwinConfig(
        image_size=64,
        patch_size=4,
        embed_dim=8,
        depths=[1, 1, 1, 1],
        num_heads=[1, 1, 1, 1],
        window_size=4,
        out_features=["stage1", "stage2", "stage3", "stage4"],
    )
    id2label = {i: f"class_{i}" for i in range(ADE20K_NUM_LABELS)}
    config = Mask2FormerConfig(
        backbone_config=backbone,
        feature_size=32,  # the pixel decoder's GroupNorm(32, ...) needs a multiple of 32
        mask_feature_size=32,
        hidden_dim=32,
        encoder_feedforward_dim=32,
        encoder_layers=1,
        decoder_layers=2,
        num_attention_heads=2,
        dim_feedforward=32,
        num_queries=num_queries,
        id2label=id2label,
        label2id={name: i for i, name in id2label.items()},
    )
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        model = Mask2FormerForUniversalSegmentation(config).eval()
    processor = Mask2FormerImageProcessorPil(
        size={"shortest_edge": 64, "longest_edge": 128},
        size_divisor=32,
        ignore_index=255,
        do_reduce_labels=True,
    )
    model.save_pretrained(path)
    processor.save_pretrained(path)
    return path
