"""The one schema of the feature store: samples and errors tables (pyarrow), with a version.

Writers (the Beam job) and readers (training, validation, CLI) import these definitions; nothing
else spells a column name. Bump :data:`SCHEMA_VERSION` on any incompatible change.
"""

from __future__ import annotations

import pyarrow as pa

from featurestore.modality import CAPTION_SOURCE_COLUMN, Modality

SCHEMA_VERSION = 1
"""Bumped on an incompatible change only: a new nullable column (:data:`ADDED_COLUMNS`) is added to
older tables when they are opened (:func:`featurestore.catalog.ensure_tables`, Iceberg schema
evolution), and rows of their older data files read it as null (:func:`conform_samples`)."""

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
        pa.field(CAPTION_SOURCE_COLUMN, pa.string()),  # "sidecar" | "captioner"; null when no caption
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

ADDED_COLUMNS: tuple[str, ...] = (CAPTION_SOURCE_COLUMN,)
"""Nullable samples columns added after the first tables of this :data:`SCHEMA_VERSION`: tables
and data files written before may lack them (they read as null)."""

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


def conform_samples(rows: pa.Table, schema: pa.Schema = SAMPLES_SCHEMA) -> pa.Table:
    """``rows`` with ``schema``'s columns in its order and types; a column of :data:`ADDED_COLUMNS`
    the rows lack (a data file written before it existed) is filled with nulls."""
    for field in schema:
        if field.name not in rows.column_names and field.name in ADDED_COLUMNS:
            rows = rows.append_column(field, pa.nulls(rows.num_rows, field.type))
    return rows.select(schema.names).cast(schema)
