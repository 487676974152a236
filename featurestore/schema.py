"""The one schema of the feature store: samples and errors tables (pyarrow), with a version.

Writers (the Beam job) and readers (training, validation, CLI) import these definitions; nothing
else spells a column name. Bump :data:`SCHEMA_VERSION` on any incompatible change.
"""

from __future__ import annotations

import pyarrow as pa

from featurestore.modality import Modality

SCHEMA_VERSION = 1

_TOKENS = pa.list_(pa.int32())

SAMPLES_SCHEMA = pa.schema(
    [
        pa.field("sample_id", pa.string(), nullable=False),  # sha256 of (source hash, crop, seed, config hash)
        pa.field("split", pa.string(), nullable=False),  # "train" | "eval"
        pa.field("source_uri", pa.string(), nullable=False),
        pa.field("source_sha256", pa.string(), nullable=False),
        pa.field("crop_box", pa.list_(pa.int32()), nullable=False),  # [top, left, height, width] in HR pixels
        pa.field("seed", pa.int64(), nullable=False),
        pa.field("hr_png", pa.binary(), nullable=False),  # HR crop, RGB uint8 PNG
        pa.field("lr_png", pa.binary(), nullable=False),  # degraded LR (HR / scale), RGB uint8 PNG
        pa.field("scale", pa.int32(), nullable=False),
        pa.field("degradation", pa.string(), nullable=False),  # JSON of every sampled parameter
        pa.field("modality_source", pa.string(), nullable=False),  # "hr" | "lr": what modalities saw
        pa.field(Modality.CAPTION.map_column, pa.string()),
        pa.field(Modality.CAPTION.tokens_column, _TOKENS),
        pa.field(Modality.DEPTH.map_column, pa.binary()),  # 16-bit gray PNG, relative depth
        pa.field(Modality.DEPTH.tokens_column, _TOKENS),
        pa.field(Modality.SEGMENTATION.map_column, pa.binary()),  # 8/16-bit gray PNG of class ids
        pa.field(Modality.SEGMENTATION.tokens_column, _TOKENS),
        pa.field(Modality.EDGES.map_column, pa.binary()),  # 8-bit gray PNG, 0/255
        pa.field(Modality.EDGES.tokens_column, _TOKENS),
        pa.field("extractors", pa.string(), nullable=False),  # JSON {modality: "model_id@revision"}
        pa.field("config_hash", pa.string(), nullable=False),
        pa.field("pipeline_version", pa.string(), nullable=False),
        pa.field("schema_version", pa.int32(), nullable=False),
    ]
)

ERRORS_SCHEMA = pa.schema(
    [
        pa.field("source_uri", pa.string(), nullable=False),
        pa.field("stage", pa.string(), nullable=False),  # "read" | "decode" | "degrade" | "extract" | ...
        pa.field("exception", pa.string(), nullable=False),  # exception class name
        pa.field("message", pa.string(), nullable=False),
        pa.field("run_id", pa.string(), nullable=False),
        pa.field("config_hash", pa.string(), nullable=False),
        pa.field("schema_version", pa.int32(), nullable=False),
    ]
)
