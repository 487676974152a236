"""Fixtures for feature-store tests: a store in a tmp dir and helpers that stage valid Parquet."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import cv2
import fsspec
import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from featurestore.commit import commit_run
from featurestore.config import FeatureStoreConfig
from featurestore.modality import (
    CAPTION_SOURCE_COLUMN,
    CAPTION_TOKENS,
    SPATIAL_MODALITIES,
    VQ_CODEBOOK_SIZE,
    VQ_TOKENS,
    Modality,
)
from featurestore.schema import ERRORS_SCHEMA, SAMPLES_SCHEMA, SCHEMA_VERSION
from featurestore.staging import ERRORS_DIR, SAMPLES_DIR, staging_dir

CONFIG_HASH = "cfg-test"


def _png(rng: np.random.Generator, size: int, channels: int) -> bytes:
    image = rng.integers(0, 256, size=(size, size, channels), dtype=np.uint8)
    ok, encoded = cv2.imencode(".png", image)
    assert ok
    return encoded.tobytes()


def sample_row(index: int, config_hash: str = CONFIG_HASH) -> dict[str, Any]:
    """One valid SAMPLES_SCHEMA row, fully determined by ``index``."""
    rng = np.random.default_rng(index)
    row: dict[str, Any] = {
        "sample_id": f"sample-{index:05d}",
        "split": "eval" if index % 4 == 0 else "train",
        "source_uri": f"file:///data/hr/{index:05d}.png",
        "source_sha256": f"{index:064x}",
        "crop_box": [0, 0, 16, 16],
        "seed": index,
        "hr_png": _png(rng, 16, 3),
        "lr_png": _png(rng, 4, 3),
        "scale": 4,
        "degradation": '{"blur": 1.0}',
        "modality_source": "hr",
        Modality.CAPTION.map_column: f"a photo number {index}",
        CAPTION_SOURCE_COLUMN: "sidecar",
        Modality.CAPTION.tokens_column: rng.integers(0, 49408, CAPTION_TOKENS).tolist(),
        "extractors": "{}",
        "config_hash": config_hash,
        "pipeline_version": "test",
        "schema_version": SCHEMA_VERSION,
    }
    for modality in SPATIAL_MODALITIES:
        row[modality.map_column] = _png(rng, 16, 1)
        row[modality.tokens_column] = rng.integers(0, VQ_CODEBOOK_SIZE, VQ_TOKENS).tolist()
    return row


def error_row(index: int, run_id: str, config_hash: str = CONFIG_HASH) -> dict[str, Any]:
    """One valid ERRORS_SCHEMA row."""
    return {
        "source_uri": f"file:///data/hr/bad-{index:05d}.png", "stage": "decode", "exception": "ValueError",
        "message": "not an image", "run_id": run_id, "config_hash": config_hash, "schema_version": SCHEMA_VERSION,
    }


def write_parquet(url: str, table: pa.Table) -> str:
    fs, path = fsspec.core.url_to_fs(url)
    fs.makedirs(str(Path(path).parent), exist_ok=True)
    with fs.open(path, "wb") as handle:
        pq.write_table(table, handle)
    return url


def commit_rows(
    root: Path, run_id: str, rows: list[dict[str, Any]], config_hash: str | None = None,
    properties: dict[str, str] | None = None,
) -> FeatureStoreConfig:
    """A store under ``root`` whose newest snapshot holds ``rows`` (added to what it held), staged in
    one file and committed as ``run_id`` (snapshot properties ``config_hash``: ``config_hash``,
    default the run id, and ``properties``)."""
    store = FeatureStoreConfig(catalog_uri=f"sqlite:///{root}/catalog.db", warehouse=str(root / "warehouse"))
    table = pa.Table.from_pylist(rows, SAMPLES_SCHEMA)
    write_parquet(f"{staging_dir(store, run_id)}/{SAMPLES_DIR}/part-00000.parquet", table)
    commit_run(store, run_id, {"config_hash": config_hash or run_id, **(properties or {})})
    return store


StageSamples = Callable[..., list[str]]


@pytest.fixture
def store(tmp_path: Path) -> FeatureStoreConfig:
    return FeatureStoreConfig(
        catalog_uri=f"sqlite:///{tmp_path}/catalog/catalog.db", warehouse=str(tmp_path / "warehouse")
    )


@pytest.fixture
def stage_samples(store: FeatureStoreConfig) -> StageSamples:
    """``stage_samples(run_id, count, start=0, files=1)``: stage rows start..start+count-1; file URLs."""

    def stage(run_id: str, count: int, start: int = 0, files: int = 1) -> list[str]:
        rows = [sample_row(index) for index in range(start, start + count)]
        root = f"{staging_dir(store, run_id)}/{SAMPLES_DIR}"
        return [
            write_parquet(f"{root}/part-{shard:05d}.parquet", pa.Table.from_pylist(rows[shard::files], SAMPLES_SCHEMA))
            for shard in range(files)
        ]

    return stage


@pytest.fixture
def stage_errors(store: FeatureStoreConfig) -> Callable[[str, int], str]:
    """``stage_errors(run_id, count)``: stage ``count`` error rows in one file; its URL."""

    def stage(run_id: str, count: int) -> str:
        table = pa.Table.from_pylist([error_row(index, run_id) for index in range(count)], ERRORS_SCHEMA)
        return write_parquet(f"{staging_dir(store, run_id)}/{ERRORS_DIR}/part-00000.parquet", table)

    return stage
