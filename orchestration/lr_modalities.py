"""Modalities extracted from the LR at inference, as in the paper: depth, segmentation and edges.

The extractor models travel inside the registered model. :func:`package_extractors` saves the
depth and segmentation checkpoints that preprocessing used (``preprocess.modalities``: the same
hub id and revision, or local folder) into the pipeline folder as ``depth/`` and
``segmentation/`` (safetensors weights and JSON configs, so the model verification checks them
like every other file). :meth:`LrModalities.load` reads them back with the classes preprocessing
uses (``DepthEstimator``, ``SegmentationEstimator``); a pipeline without them extracts edges
only. Maps are predicted on the LR bicubically upsampled to the output size, then rendered and
VQ-coded exactly as preprocessing renders and codes them (``pipelines.modality_codes``).
"""

from __future__ import annotations

from collections.abc import Collection, Sequence
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np
import torch
from transformers import AutoImageProcessor, AutoModelForDepthEstimation, Mask2FormerForUniversalSegmentation

from featurestore.modality import Modality
from pipelines.modalities.depth import DepthEstimator
from pipelines.modalities.edges import canny_edges
from pipelines.modalities.extractor import ModalityExtractionConfig
from pipelines.modalities.segmentation import SegmentationEstimator
from pipelines.modality_codes import encode_to_codes, maps_to_vq_input, render_modality_map
from trainers.models.sr_pipeline import MMSRPipeline

EXTRACTOR_FOLDERS = {Modality.DEPTH: "depth", Modality.SEGMENTATION: "segmentation"}
"""Subfolder of the pipeline folder holding each packaged extractor."""
_MODEL_CLASSES = {Modality.DEPTH: AutoModelForDepthEstimation, Modality.SEGMENTATION: Mask2FormerForUniversalSegmentation}


def _source(config: ModalityExtractionConfig, modality: Modality) -> tuple[str, str | None]:
    if modality is Modality.DEPTH:
        return config.depth_model, config.depth_revision
    return config.segmentation_model, config.segmentation_revision


def package_extractors(pipeline_dir: str | Path, config: ModalityExtractionConfig) -> list[Modality]:
    """Save the enabled depth / segmentation extractors of ``config`` into ``pipeline_dir``; the
    modalities packaged. A folder already there is kept (packaging twice is a no-op)."""
    packaged = []
    for modality, folder in EXTRACTOR_FOLDERS.items():
        if modality.value not in config.enabled:
            continue
        target = Path(pipeline_dir) / folder
        if not target.is_dir():
            model_id, revision = _source(config, modality)
            model = _MODEL_CLASSES[modality].from_pretrained(model_id, revision=revision)
            processor = AutoImageProcessor.from_pretrained(model_id, revision=revision)
            staging = target.with_name(f".{folder}.partial")
            model.save_pretrained(staging, safe_serialization=True)
            processor.save_pretrained(staging)
            staging.rename(target)
        packaged.append(modality)
    return packaged


@dataclass(frozen=True, eq=False)
class LrModalities:
    """The extractors run on every LR; edges always (Canny is cheap), depth and segmentation when packaged."""

    depth: DepthEstimator | None = None
    segmentation: SegmentationEstimator | None = None

    @classmethod
    def load(cls, pipeline_dir: str | Path, device: torch.device | str = "cpu") -> LrModalities:
        """The extractors packaged in ``pipeline_dir`` (already verified file by file), on ``device`` in fp32."""
        root = Path(pipeline_dir)
        depth_dir, segmentation_dir = (root / EXTRACTOR_FOLDERS[m] for m in (Modality.DEPTH, Modality.SEGMENTATION))
        return cls(
            depth=DepthEstimator(str(depth_dir), device=str(device)) if depth_dir.is_dir() else None,
            segmentation=SegmentationEstimator(str(segmentation_dir), device=str(device))
            if segmentation_dir.is_dir() else None,
        )

    @property
    def modalities(self) -> tuple[Modality, ...]:
        """What :meth:`maps` extracts."""
        extra = [m for m, model in ((Modality.DEPTH, self.depth), (Modality.SEGMENTATION, self.segmentation)) if model]
        return (*extra, Modality.EDGES)

    def maps(self, images: Sequence[np.ndarray], skip: Collection[Modality] = ()) -> dict[Modality, list[np.ndarray]]:
        """(H, W, 3) uint8 RGB images -> each extracted modality's maps (one per image), ``skip`` left out."""
        found: dict[Modality, list[np.ndarray]] = {}
        if self.depth is not None and Modality.DEPTH not in skip:
            found[Modality.DEPTH] = self.depth.predict(images)
        if self.segmentation is not None and Modality.SEGMENTATION not in skip:
            found[Modality.SEGMENTATION] = self.segmentation.predict(images)
        if Modality.EDGES not in skip:
            found[Modality.EDGES] = [canny_edges(image) for image in images]
        return found


def lr_modality_codes(
    pipeline: MMSRPipeline, extractors: LrModalities, lrs: Sequence[np.ndarray], skip: Collection[Modality] = ()
) -> dict[Modality, torch.Tensor]:
    """(B, 256) VQ codes per extracted modality of B same-size LRs, upsampled (bicubic) to the output size."""
    scale = pipeline.config.scale
    upsampled = [
        cv2.resize(lr, (lr.shape[1] * scale, lr.shape[0] * scale), interpolation=cv2.INTER_CUBIC) for lr in lrs
    ]
    codes = {}
    for modality, maps in extractors.maps(upsampled, skip).items():
        rendered = maps_to_vq_input([render_modality_map(map_, modality) for map_ in maps])
        codes[modality] = encode_to_codes(pipeline.vq, rendered.to(pipeline.device))
    return codes
