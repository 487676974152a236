"""Which modalities the pipeline extracts, with which models, and the version string of each.

Light to import (no torch): the job's config imports it; the model modules load on workers.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal, get_args

import cv2

ModalityName = Literal["caption", "depth", "segmentation", "edges"]
"""The values of :class:`featurestore.modality.Modality`."""
ModalitySource = Literal["hr", "lr"]

ALL_MODALITIES: tuple[ModalityName, ...] = get_args(ModalityName)
DEFAULT_DEPTH_MODEL = "depth-anything/Depth-Anything-V2-Small-hf"
DEFAULT_SEGMENTATION_MODEL = "facebook/mask2former-swin-tiny-ade-semantic"


@dataclass(frozen=True)
class ModalityExtractionConfig:
    """Modality extraction settings of the preprocessing job (YAML key ``preprocess.modalities``)."""

    enabled: tuple[ModalityName, ...] = ALL_MODALITIES
    depth_model: str = DEFAULT_DEPTH_MODEL
    """Hub id or local folder of an ``AutoModelForDepthEstimation`` checkpoint."""
    depth_revision: str | None = None
    """Hub revision (branch, tag or commit); pin a commit for reproducible datasets."""
    segmentation_model: str = DEFAULT_SEGMENTATION_MODEL
    """Hub id or local folder of a ``Mask2FormerForUniversalSegmentation`` checkpoint."""
    segmentation_revision: str | None = None
    canny_low: int = 100
    canny_high: int = 200
    source: ModalitySource = "hr"
    """Extract from the HR crop (training, as in the paper) or the upsampled LR (inference-like)."""
    captions_path: str | None = None
    """Sidecar ``captions.jsonl`` (local path or fsspec URL); its captions win over the model's."""
    caption_model: str | None = None
    """Hub id or local folder of an image-to-text model (e.g. ``Salesforce/blip-image-captioning-base``)
    that captions what the sidecar does not, in preprocessing and at inference; None: sidecar only."""
    caption_revision: str | None = None
    caption_max_tokens: int = 30
    """Longest generated caption, in tokens (greedy decoding)."""
    batch_size: int = 8
    """Images per model forward pass."""

    def __post_init__(self) -> None:
        unknown = [name for name in self.enabled if name not in ALL_MODALITIES]
        if unknown:
            raise ValueError(f"modalities.enabled has unknown entries {unknown}; choose from {list(ALL_MODALITIES)}")
        if len(set(self.enabled)) != len(self.enabled):
            raise ValueError(f"modalities.enabled lists a modality twice: {list(self.enabled)}")
        if self.source not in get_args(ModalitySource):
            raise ValueError(f"modalities.source must be 'hr' or 'lr', got {self.source!r}")
        if not 0 <= self.canny_low <= self.canny_high:
            raise ValueError(
                f"modalities.canny_low/canny_high must satisfy 0 <= low <= high, got {self.canny_low}, {self.canny_high}"
            )
        if self.batch_size < 1:
            raise ValueError(f"modalities.batch_size must be >= 1, got {self.batch_size}")
        if self.caption_max_tokens < 1:
            raise ValueError(f"modalities.caption_max_tokens must be >= 1, got {self.caption_max_tokens}")


def _model_version(model: str, revision: str | None) -> str:
    return f"{model}@{revision or 'unpinned'}"


def extractor_versions(config: ModalityExtractionConfig) -> dict[str, str]:
    """Lineage string per enabled modality: ``model_id@revision`` ("unpinned" when no revision).

    Edges record ``opencv-canny@<cv2 version>:<low>,<high>``; captions record their sidecar file
    (``sidecar:<path>``, or ``sidecar:none`` when no file is configured), then the captioner that
    fills the gaps, if any (``+model_id@revision:<max tokens>``).
    """
    caption = f"sidecar:{config.captions_path or 'none'}"
    if config.caption_model is not None:
        caption += f"+{_model_version(config.caption_model, config.caption_revision)}:{config.caption_max_tokens}"
    versions = {
        "caption": caption,
        "depth": _model_version(config.depth_model, config.depth_revision),
        "segmentation": _model_version(config.segmentation_model, config.segmentation_revision),
        "edges": f"opencv-canny@{cv2.__version__}:{config.canny_low},{config.canny_high}",
    }
    return {name: versions[name] for name in config.enabled}
