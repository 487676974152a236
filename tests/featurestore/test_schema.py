"""Columns added to the samples schema: an older table gains them when opened, and every reader
(scan, Ray read task, DuckDB, row replacement, validation) reads an older data file's as null."""

from __future__ import annotations

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from featurestore import catalog as catalog_module
from featurestore.catalog import ensure_tables, open_catalog
from featurestore.commit import commit_run
from featurestore.config import FeatureStoreConfig
from featurestore.modality import CAPTION_SOURCE_COLUMN
from featurestore.readers import duckdb_relation, read_arrow, snapshot_files
from featurestore.row_replacement import replace_rows
from featurestore.schema import ADDED_COLUMNS, SAMPLES_SCHEMA, conform_samples
from featurestore.snapshot_datasource import read_file_blocks
from featurestore.validation import Severity, validate_snapshot
from tests.featurestore.conftest import CONFIG_HASH, StageSamples, sample_row

BEFORE = pa.schema([field for field in SAMPLES_SCHEMA if field.name not in ADDED_COLUMNS])
"""The samples schema as the first tables of this schema version were written."""


def _sources(store: FeatureStoreConfig) -> dict[str, str | None]:
    table = read_arrow(store, columns=["sample_id", CAPTION_SOURCE_COLUMN])
    return dict(zip(table["sample_id"].to_pylist(), table[CAPTION_SOURCE_COLUMN].to_pylist()))


def test_conform_fills_only_the_added_columns() -> None:
    rows = pa.Table.from_pylist([sample_row(0), sample_row(1)], BEFORE)
    conformed = conform_samples(rows)
    assert conformed.schema.names == SAMPLES_SCHEMA.names
    assert conformed[CAPTION_SOURCE_COLUMN].to_pylist() == [None, None]
    assert conformed["caption"].to_pylist() == rows["caption"].to_pylist()
    with pytest.raises(KeyError, match="edges_tokens"):
        conform_samples(rows.drop_columns(["edges_tokens"]))


@pytest.fixture
def older_table(store: FeatureStoreConfig, stage_samples: StageSamples, monkeypatch: pytest.MonkeyPatch) -> str:
    """A store whose samples table and one data file (rows 0-3) predate the added columns; its URL."""
    monkeypatch.setattr(catalog_module, "SAMPLES_SCHEMA", BEFORE)
    (url,) = stage_samples("old", 4)
    pq.write_table(pq.read_table(url).select(BEFORE.names), url)
    commit_run(store, "old", {"config_hash": CONFIG_HASH})
    monkeypatch.undo()
    (committed,) = snapshot_files(store)
    return committed


def test_an_older_table_gains_the_added_columns_and_its_rows_read_null(
    store: FeatureStoreConfig, older_table: str, stage_samples: StageSamples
) -> None:
    assert CAPTION_SOURCE_COLUMN not in pq.read_schema(older_table.removeprefix("file://")).names
    tables = ensure_tables(open_catalog(store), store)
    assert {field.name for field in tables.samples.schema().fields} == set(SAMPLES_SCHEMA.names)
    assert set(_sources(store).values()) == {None}

    stage_samples("new", 2, start=4)
    commit_run(store, "new", {"config_hash": CONFIG_HASH})
    assert _sources(store) == {**{f"sample-{i:05d}": None for i in range(4)}, "sample-00004": "sidecar",
                               "sample-00005": "sidecar"}
    (block,) = read_file_blocks(older_table, SAMPLES_SCHEMA, "train", 16)
    assert block.schema == SAMPLES_SCHEMA and block.num_rows == 3 and block[CAPTION_SOURCE_COLUMN].null_count == 3
    (counted,) = duckdb_relation(store).aggregate(f"count({CAPTION_SOURCE_COLUMN}), count(*)").fetchall()
    assert counted == (2, 6)

    report = validate_snapshot(store)
    assert report.ok and report.rows == 6
    notes = [issue for issue in report.issues if issue.column == CAPTION_SOURCE_COLUMN]
    assert [(issue.file, issue.severity) for issue in notes] == [(older_table, Severity.INFO)]


def test_replacing_rows_of_an_older_data_file_keeps_its_other_rows(
    store: FeatureStoreConfig, older_table: str
) -> None:
    replacement = sample_row(1) | {"caption": "new", CAPTION_SOURCE_COLUMN: "captioner"}
    staged = pa.Table.from_pylist([replacement], SAMPLES_SCHEMA)
    result = replace_rows(store, staged, lambda staged, committed: staged, "rerun", {})
    assert result.replaced == 1
    assert _sources(store) == {"sample-00000": None, "sample-00001": "captioner", "sample-00002": None,
                               "sample-00003": None}
