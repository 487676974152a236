"""A row's extractor lineage read back as settings: the inverse of :func:`~pipelines.modalities.extractor.extractor_versions`.

Each sample row records, per modality it extracted, one version string (its ``extractors`` JSON):
``model_id@revision`` for depth and segmentation ("unpinned" when no revision),
``opencv-canny@<cv2 version>:<low>,<high>`` for edges, ``sidecar:<path or none>`` optionally
followed by ``+model_id@revision:<max tokens>`` for captions. :class:`ExtractorSettings` parses
them back, so a registered model can package and serve exactly what its training rows were made
with, and names the part of each setting that serving depends on (:meth:`ExtractorSettings.served`).
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass

from pipelines.modalities.extractor import ALL_MODALITIES, ModalityExtractionConfig, extractor_versions

UNPINNED = "unpinned"
"""The revision a version string records for a model loaded without one."""
_EDGES = re.compile(r"opencv-canny@(?P<opencv>[^:]*):(?P<low>\d+),(?P<high>\d+)")
_CAPTION = re.compile(r"sidecar:(?P<path>.*?)(?:\+(?P<model>.+):(?P<tokens>\d+))?")


@dataclass(frozen=True)
class ModelVersion:
    """A hub id (or local folder) and its revision (None: unpinned)."""

    model: str
    revision: str | None = None

    @classmethod
    def parse(cls, text: str) -> ModelVersion:
        """``model_id@revision`` -> its fields; ValueError when there is no ``@`` or no model id."""
        model, at, revision = text.rpartition("@")
        if not at or not model or not revision:
            raise ValueError(f"{text!r} is not 'model_id@revision'")
        return cls(model, None if revision == UNPINNED else revision)

    def __str__(self) -> str:
        return f"{self.model}@{self.revision or UNPINNED}"


@dataclass(frozen=True)
class CannySettings:
    """Hysteresis thresholds of the Canny edges, and the OpenCV version that drew them (None: unknown)."""

    low: int = 100
    high: int = 200
    opencv: str | None = None

    @classmethod
    def parse(cls, text: str) -> CannySettings:
        found = _EDGES.fullmatch(text)
        if found is None:
            raise ValueError(f"{text!r} is not 'opencv-canny@<version>:<low>,<high>'")
        return cls(int(found["low"]), int(found["high"]), found["opencv"])

    def __str__(self) -> str:
        return f"opencv-canny@{self.opencv or 'unknown'}:{self.low},{self.high}"


@dataclass(frozen=True)
class CaptionSettings:
    """The sidecar captions file (None: none) and the captioner filling its gaps (None: sidecar only)."""

    captions_path: str | None = None
    captioner: ModelVersion | None = None
    max_tokens: int | None = None
    """Longest generated caption; None without a captioner."""

    @classmethod
    def parse(cls, text: str) -> CaptionSettings:
        found = _CAPTION.fullmatch(text)
        if found is None:
            raise ValueError(f"{text!r} is not 'sidecar:<path>[+model_id@revision:<max tokens>]'")
        path = None if found["path"] == "none" else found["path"]
        if found["model"] is None:
            return cls(path)
        return cls(path, ModelVersion.parse(found["model"]), int(found["tokens"]))

    def __str__(self) -> str:
        text = f"sidecar:{self.captions_path or 'none'}"
        return text if self.captioner is None else f"{text}+{self.captioner}:{self.max_tokens}"


@dataclass(frozen=True)
class ExtractorSettings:
    """What each modality was extracted with; None: the modality was not extracted."""

    caption: CaptionSettings | None = None
    depth: ModelVersion | None = None
    segmentation: ModelVersion | None = None
    edges: CannySettings | None = None

    @classmethod
    def from_versions(cls, versions: Mapping[str, str]) -> ExtractorSettings:
        """The settings a row's ``extractors`` mapping records; ValueError naming a modality it cannot read."""
        unknown = sorted(set(versions) - set(ALL_MODALITIES))
        if unknown:
            raise ValueError(f"unknown modalities {unknown} in extractor lineage {dict(versions)}")
        parsers = {
            "caption": CaptionSettings.parse, "depth": ModelVersion.parse,
            "segmentation": ModelVersion.parse, "edges": CannySettings.parse,
        }
        parsed = {}
        for name, text in versions.items():
            try:
                parsed[name] = parsers[name](text)
            except ValueError as error:
                raise ValueError(f"{name} extractor lineage: {error}") from None
        return cls(**parsed)

    @classmethod
    def from_config(cls, config: ModalityExtractionConfig) -> ExtractorSettings:
        """The settings rows made with ``config`` record (this process's OpenCV version for edges)."""
        return cls.from_versions(extractor_versions(config))

    def versions(self) -> dict[str, str]:
        """The ``extractors`` mapping rows made with these settings record (inverse of :meth:`from_versions`)."""
        found = {"caption": self.caption, "depth": self.depth, "segmentation": self.segmentation, "edges": self.edges}
        return {name: str(value) for name, value in found.items() if value is not None}

    def served(self) -> dict[str, str]:
        """Per modality extracted at serving, what decides its maps: the captioner and its caption
        length, the depth and segmentation models, the Canny thresholds (not the sidecar captions
        file, which serving never reads, nor the OpenCV version, which the registry does not choose)."""
        served = {}
        if self.caption is not None and self.caption.captioner is not None:
            served["caption"] = f"captioner {self.caption.captioner} ({self.caption.max_tokens} tokens)"
        if self.depth is not None:
            served["depth"] = str(self.depth)
        if self.segmentation is not None:
            served["segmentation"] = str(self.segmentation)
        if self.edges is not None:
            served["edges"] = f"canny_low={self.edges.low}, canny_high={self.edges.high}"
        return served

    def extraction_config(self) -> ModalityExtractionConfig:
        """A ``preprocess.modalities`` that extracts exactly these settings (other fields at their defaults)."""
        enabled = tuple(name for name in ALL_MODALITIES if name in self.versions())
        fields: dict[str, object] = {"enabled": enabled}
        if self.depth is not None:
            fields.update(depth_model=self.depth.model, depth_revision=self.depth.revision)
        if self.segmentation is not None:
            fields.update(segmentation_model=self.segmentation.model, segmentation_revision=self.segmentation.revision)
        if self.edges is not None:
            fields.update(canny_low=self.edges.low, canny_high=self.edges.high)
        if self.caption is not None:
            fields["captions_path"] = self.caption.captions_path
            if self.caption.captioner is not None:
                fields.update(
                    caption_model=self.caption.captioner.model, caption_revision=self.caption.captioner.revision,
                    caption_max_tokens=self.caption.max_tokens,
                )
        return ModalityExtractionConfig(**fields)  # type: ignore[arg-type]
