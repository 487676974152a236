"""The extractor settings of the rows a model was trained on, as registration records and packages them.

Read from the training snapshot's ``train`` split (what ``mmsr train`` reads): each modality's
version string from the rows' ``extractors`` lineage (:mod:`pipelines.modalities.extractor_settings`
parses them), and the VQ and CLIP tokenizers from the summaries of the runs that made the rows
(:mod:`pipelines.tokenizer_lineage`). Rows that mix settings (several versions of one modality, or
tokens from several tokenizers) are refused, naming each setting and its row count: no single
packaging serves such a model as it was trained. A modality some rows lack and others record is
not a mix: those rows trained it as absent, and it is served with the recorded settings.
"""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Mapping
from dataclasses import dataclass

from featurestore.config import FeatureStoreConfig
from featurestore.split_lineage import SplitLineage, split_lineage
from orchestration.serving.registry_error import ExtractorParityError
from orchestration.serving.extractor_record import RECORD_SETTINGS_KEY
from pipelines.modalities.extractor import ModalityExtractionConfig
from pipelines.modalities.extractor_settings import ExtractorSettings
from pipelines.tokenizer_lineage import CLIP_TOKENIZER_PROPERTY, VQ_TOKENIZER_PROPERTY

_REMEDY = ("rerun `mmsr preprocess` over all its inputs with one preprocess.modalities (it recomputes only the "
           "stale modalities) and train on that snapshot")


@dataclass(frozen=True)
class TrainingExtractors:
    """What a model's training rows were made with (or, without a snapshot, what the config names)."""

    settings: ExtractorSettings
    snapshot_id: int | None = None
    """The training snapshot; None: the settings come from the config at registration."""
    rows: int = 0
    """Train rows of the snapshot."""
    vq_tokenizer: str | None = None
    """JSON of the VQ tokenizer that coded the rows' maps (None: not recorded)."""
    clip_tokenizer: str | None = None
    """JSON of the CLIP tokenizer of the rows' captions (None: not recorded)."""

    @classmethod
    def from_config(cls, config: ModalityExtractionConfig) -> TrainingExtractors:
        return cls(ExtractorSettings.from_config(config))

    def record(self) -> dict[str, object]:
        """The record a registered model carries (``extractor_settings.json``, tag ``mmsr.extractors``)."""
        return {
            "snapshot_id": self.snapshot_id, "train_rows": self.rows, RECORD_SETTINGS_KEY: self.settings.versions(),
            "vq_tokenizer": None if self.vq_tokenizer is None else json.loads(self.vq_tokenizer),
            "clip_tokenizer": None if self.clip_tokenizer is None else json.loads(self.clip_tokenizer),
        }

    def to_json(self) -> str:
        return json.dumps(self.record(), sort_keys=True)


def _counted(counts: Mapping[str, int]) -> str:
    return " vs ".join(f"{value} ({rows} rows)" for value, rows in sorted(counts.items(), key=lambda item: -item[1]))


def _recorded_versions(lineage: SplitLineage) -> dict[str, str]:
    """Each recorded modality's one version; ExtractorParityError when rows mix versions."""
    seen: dict[str, Counter[str]] = {}
    for text, rows in lineage.extractors.items():
        try:
            recorded = json.loads(text)
        except json.JSONDecodeError:
            recorded = None
        if not isinstance(recorded, dict):
            raise ExtractorParityError(f"not registered: train rows of snapshot {lineage.snapshot_id} record "
                                       f"extractors {text[:120]!r}, not a JSON object")
        for modality, version in recorded.items():
            seen.setdefault(modality, Counter())[str(version)] += rows
    mixed = [f"{modality}: {_counted(counts)}" for modality, counts in sorted(seen.items()) if len(counts) > 1]
    if mixed:
        raise ExtractorParityError(f"not registered: the train rows of snapshot {lineage.snapshot_id} were made "
                                   f"with several extractor settings ({'; '.join(mixed)}); {_REMEDY}")
    return {modality: next(iter(counts)) for modality, counts in seen.items()}


def _recorded_tokenizer(lineage: SplitLineage, key: str, name: str) -> str | None:
    """The one tokenizer the runs behind the rows record under ``key`` (None: none recorded)."""
    counts: Counter[str] = Counter()
    for config_hash, rows in lineage.config_hashes.items():
        found = lineage.run_properties[config_hash].get(key)
        if found is not None:
            counts[found] += rows
    if len(counts) > 1:
        raise ExtractorParityError(f"not registered: the train rows of snapshot {lineage.snapshot_id} were tokenized "
                                   f"by several {name} tokenizers ({_counted(counts)}); {_REMEDY}")
    return next(iter(counts), None)


def training_extractors(store: FeatureStoreConfig, snapshot_id: int) -> TrainingExtractors:
    """The extractor settings of ``snapshot_id``'s train rows; ExtractorParityError when they mix
    settings or record one this release cannot read."""
    lineage = split_lineage(store, snapshot_id, "train")
    versions = _recorded_versions(lineage)
    try:
        settings = ExtractorSettings.from_versions(versions)
    except ValueError as error:
        raise ExtractorParityError(f"not registered: train rows of snapshot {snapshot_id}: {error}") from None
    return TrainingExtractors(
        settings, snapshot_id, lineage.rows, _recorded_tokenizer(lineage, VQ_TOKENIZER_PROPERTY, "VQ"),
        _recorded_tokenizer(lineage, CLIP_TOKENIZER_PROPERTY, "CLIP"),
    )
