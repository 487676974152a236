"""Modalities extracted from the LR at inference, as in the paper: caption, depth, segmentation and edges.

The extractor models travel inside the registered model. :func:`package_extractors` saves the
captioner, depth and segmentation checkpoints the training rows were made with (registration
passes the settings read from the training snapshot, ``orchestration.registry.extractor_parity``:
the same hub id and revision, or local folder) into the pipeline folder as ``captioner/``,
``depth/`` and ``segmentation/`` (safetensors weights, JSON configs and tokenizer files, so the
model verification checks them like every other file). :meth:`LrModalities.load` reads them back
with the classes preprocessing uses (``Captioner``, ``DepthEstimator``, ``SegmentationEstimator``);
a pipeline without them extracts edges only. Edges are drawn with the Canny thresholds of the
training rows, from the pipeline's extractor record (``orchestration.serving.extractor_record``;
the defaults for a pipeline registered without one). Everything is extracted from the LR bicubically
upsampled to the output size (at most :data:`EXTRACTION_MAX_SIDE` on its longer side); maps are
then rendered and VQ-coded exactly as preprocessing renders and codes them (``pipelines.modality_codes``).
"""

from __future__ import annotations

import json
import shutil
from collections.abc import Collection, Sequence
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np
import torch
from transformers import (
    AutoImageProcessor,
    AutoModelForDepthEstimation,
    AutoModelForImageTextToText,
    AutoProcessor,
    Mask2FormerForUniversalSegmentation,
)

from featurestore.modality import Modality
from orchestration.serving.extractor_record import packaged_settings
from pipelines.modalities.captioner import Captioner
from pipelines.modalities.depth import DepthEstimator
from pipelines.modalities.edges import canny_edges
from pipelines.modalities.extractor import ModalityExtractionConfig
from pipelines.modalities.extractor_settings import CannySettings
from pipelines.modalities.segmentation import SegmentationEstimator
from pipelines.modality_codes import encode_to_codes, maps_to_vq_input, render_modality_map
from trainers.models.sr_pipeline import MMSRPipeline

EXTRACTOR_FOLDERS = {Modality.CAPTION: "captioner", Modality.DEPTH: "depth", Modality.SEGMENTATION: "segmentation"}
"""Subfolder of the pipeline folder holding each packaged extractor."""
_MODEL_CLASSES = {
    Modality.CAPTION: AutoModelForImageTextToText,
    Modality.DEPTH: AutoModelForDepthEstimation,
    Modality.SEGMENTATION: Mask2FormerForUniversalSegmentation,
}
EXTRACTION_MAX_SIDE = 1024
"""Longest side of the image the extractors see. Every map is rendered to the VQ's 256 px input
anyway; past this, Mask2Former's per-query masks at full size alone would need gigabytes
(100 queries x 4096^2 floats for a 1024 px LR at x4)."""
CAPTION_TOKENS_FILE = "max_new_tokens.json"
"""In ``captioner/``: the caption length the data was made with (``modalities.caption_max_tokens``)."""


def _source(config: ModalityExtractionConfig, modality: Modality) -> tuple[str | None, str | None]:
    if modality is Modality.CAPTION:
        return config.caption_model, config.caption_revision
    if modality is Modality.DEPTH:
        return config.depth_model, config.depth_revision
    return config.segmentation_model, config.segmentation_revision


def package_extractors(pipeline_dir: str | Path, config: ModalityExtractionConfig) -> list[Modality]:
    """Save the enabled captioner / depth / segmentation extractors of ``config`` into ``pipeline_dir``;
    the modalities packaged. A folder already there is kept (packaging twice is a no-op)."""
    packaged = []
    for modality, folder in EXTRACTOR_FOLDERS.items():
        model_id, revision = _source(config, modality)
        if modality.value not in config.enabled or model_id is None:
            continue
        target = Path(pipeline_dir) / folder
        if not target.is_dir():
            # As the preprocessing classes load them: safetensors only, but Mask2Former takes what the hub has.
            weights = {} if modality is Modality.SEGMENTATION else {"use_safetensors": True}
            model = _MODEL_CLASSES[modality].from_pretrained(model_id, revision=revision, **weights)
            loader = AutoProcessor if modality is Modality.CAPTION else AutoImageProcessor
            processor = loader.from_pretrained(model_id, revision=revision)
            staging = target.with_name(f".{folder}.partial")
            shutil.rmtree(staging, ignore_errors=True)  # left by a packaging that crashed
            model.save_pretrained(staging, safe_serialization=True)
            processor.save_pretrained(staging)
            if modality is Modality.CAPTION:
                (staging / CAPTION_TOKENS_FILE).write_text(json.dumps(config.caption_max_tokens))
            staging.rename(target)
        packaged.append(modality)
    return packaged


@dataclass(frozen=True, eq=False)
class LrModalities:
    """The extractors run on every LR; edges always (Canny is cheap), the others when packaged."""

    depth: DepthEstimator | None = None
    segmentation: SegmentationEstimator | None = None
    captioner: Captioner | None = None
    canny: CannySettings = CannySettings()
    """The thresholds of the edge maps: those the training rows were drawn with."""

    @classmethod
    def load(cls, pipeline_dir: str | Path, device: torch.device | str = "cpu") -> LrModalities:
        """The extractors packaged in ``pipeline_dir`` (already verified file by file), on ``device`` in fp32,
        and the Canny thresholds it records."""
        settings = packaged_settings(pipeline_dir)
        canny = settings.edges if settings is not None and settings.edges is not None else CannySettings()
        folders = {m: Path(pipeline_dir) / name for m, name in EXTRACTOR_FOLDERS.items()}
        found = {m: str(folder) for m, folder in folders.items() if folder.is_dir()}
        captioner = None
        if Modality.CAPTION in found:
            tokens = json.loads((folders[Modality.CAPTION] / CAPTION_TOKENS_FILE).read_text())
            captioner = Captioner(found[Modality.CAPTION], device=str(device), max_new_tokens=int(tokens))
        return cls(
            depth=DepthEstimator(found[Modality.DEPTH], device=str(device)) if Modality.DEPTH in found else None,
            segmentation=SegmentationEstimator(found[Modality.SEGMENTATION], device=str(device))
            if Modality.SEGMENTATION in found else None,
            captioner=captioner,
            canny=canny,
        )

    @property
    def modalities(self) -> tuple[Modality, ...]:
        """What :meth:`maps` and :meth:`fill_captions` extract."""
        models = {
            Modality.CAPTION: self.captioner, Modality.DEPTH: self.depth, Modality.SEGMENTATION: self.segmentation,
        }
        return (*(m for m, model in models.items() if model is not None), Modality.EDGES)

    def fill_captions(self, lrs: Sequence[np.ndarray], captions: Sequence[str | None], scale: int) -> list[str | None]:
        """``captions`` with each missing one generated from its (upsampled) LR; as given without a captioner."""
        missing = [i for i, caption in enumerate(captions) if not caption]
        filled = list(captions)
        if self.captioner is None or not missing:
            return filled
        for index, caption in zip(missing, self.captioner.caption([upsample(lrs[i], scale) for i in missing])):
            filled[index] = caption or None
        return filled

    def maps(self, images: Sequence[np.ndarray], skip: Collection[Modality] = ()) -> dict[Modality, list[np.ndarray]]:
        """(H, W, 3) uint8 RGB images -> each extracted modality's maps (one per image), ``skip`` left out."""
        found: dict[Modality, list[np.ndarray]] = {}
        if self.depth is not None and Modality.DEPTH not in skip:
            found[Modality.DEPTH] = self.depth.predict(images)
        if self.segmentation is not None and Modality.SEGMENTATION not in skip:
            found[Modality.SEGMENTATION] = self.segmentation.predict(images)
        if Modality.EDGES not in skip:
            found[Modality.EDGES] = [canny_edges(image, self.canny.low, self.canny.high) for image in images]
        return found


def upsample(lr: np.ndarray, scale: int, max_side: int = EXTRACTION_MAX_SIDE) -> np.ndarray:
    """(h, w, 3) uint8 -> the image every extractor sees: the LR resized (bicubic) to the output size
    (h * scale, w * scale), or, for outputs over ``max_side``, to the same aspect with that longer side."""
    height, width = lr.shape[0] * scale, lr.shape[1] * scale
    shrink = min(1.0, max_side / max(height, width))
    size = (max(1, round(width * shrink)), max(1, round(height * shrink)))
    return cv2.resize(lr, size, interpolation=cv2.INTER_CUBIC)


def lr_modality_maps(
    extractors: LrModalities, lrs: Sequence[np.ndarray], scale: int, skip: Collection[Modality] = ()
) -> dict[Modality, list[np.ndarray]]:
    """Each extracted modality's maps of B LRs, each LR seen as :func:`upsample` gives it."""
    return extractors.maps([upsample(lr, scale) for lr in lrs], skip)


def map_codes(pipeline: MMSRPipeline, modality: Modality, maps: Sequence[np.ndarray]) -> torch.Tensor:
    """(B, 256) VQ codes of B maps of ``modality``, rendered and coded as preprocessing does."""
    rendered = maps_to_vq_input([render_modality_map(map_, modality) for map_ in maps])
    return encode_to_codes(pipeline.vq, rendered.to(pipeline.device))

