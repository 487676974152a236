from __future__ import annotations

from collections.abc import Iterator
from uuid import uuid4

import duckdb
import fsspec
import pyarrow as pa
import pytest
import ray
from pyiceberg.expressions import EqualTo

from featurestore.catalog import ensure_tables, open_catalog
from featurestore.commit import commit_run
from featurestore.config import FeatureStoreConfig
from featurestore.readers import (
    current_snapshot_id,
    duckdb_relation,
    ray_dataset,
    read_arrow,
    resolve_snapshot,
    snapshot_files,
)
from featurestore.schema import SAMPLES_SCHEMA
from tests.featurestore.conftest import CONFIG_HASH, StageSamples, sample_row
from tests.services.marker import starts_service

PROPS = {"config_hash": CONFIG_HASH}


@pytest.fixture(scope="module")
@starts_service
def local_ray() -> Iterator[None]:
    ray.init(num_cpus=2, include_dashboard=False)
    yield
    ray.shutdown()


@pytest.fixture
def two_snapshots(store: FeatureStoreConfig, stage_samples: StageSamples) -> tuple[int, int]:
    """Snapshot 1: rows 0..3 (2 files); snapshot 2 adds rows 4..8 (1 file)."""
    stage_samples("run1", 4, files=2)
    first = commit_run(store, "run1", PROPS).snapshot_id
    stage_samples("run2", 5, start=4)
    second = commit_run(store, "run2", PROPS).snapshot_id
    assert first is not None and second is not None
    return first, second


def test_arrow_duckdb_and_ray_agree(
    store: FeatureStoreConfig, two_snapshots: tuple[int, int], local_ray: None
) -> None:
    first, _ = two_snapshots
    expected = [f"sample-{i:05d}" for i in range(4)]
    arrow_ids = sorted(read_arrow(store, first, columns=["sample_id"])["sample_id"].to_pylist())
    relation = duckdb_relation(store, first)
    duck_ids = sorted(row[0] for row in relation.project("sample_id").fetchall())
    dataset = ray_dataset(store, first, columns=["sample_id", "depth_tokens"])
    ray_rows = dataset.take_all()
    assert arrow_ids == duck_ids == sorted(row["sample_id"] for row in ray_rows) == expected
    assert relation.count("*").fetchall() == [(4,)]
    assert dataset.count() == 4
    assert {len(row["depth_tokens"]) for row in ray_rows} == {256}


def test_ray_dataset_defaults_to_current_snapshot(
    store: FeatureStoreConfig, two_snapshots: tuple[int, int], local_ray: None
) -> None:
    dataset = ray_dataset(store)
    assert dataset.count() == 9
    assert set(dataset.schema().names) == set(SAMPLES_SCHEMA.names)


def test_read_arrow_returns_schema_types_and_round_trips_values(
    store: FeatureStoreConfig, two_snapshots: tuple[int, int]
) -> None:
    columns = ["seed", "sample_id", "hr_png", "caption_token_ids"]
    table = read_arrow(store, columns=columns).sort_by("sample_id")
    assert table.schema == pa.schema([SAMPLES_SCHEMA.field(name) for name in columns])
    assert table.to_pylist()[5] == {name: sample_row(5)[name] for name in columns}
    full = read_arrow(store)
    assert full.schema == SAMPLES_SCHEMA and full.num_rows == 9


def test_read_arrow_row_filter(store: FeatureStoreConfig, two_snapshots: tuple[int, int]) -> None:
    evals = read_arrow(store, columns=["sample_id", "split"], row_filter="split == 'eval'")
    assert sorted(evals["sample_id"].to_pylist()) == ["sample-00000", "sample-00004", "sample-00008"]
    one = read_arrow(store, row_filter=EqualTo("seed", 7))
    assert one["sample_id"].to_pylist() == ["sample-00007"]


def test_snapshot_files_follow_the_snapshot(store: FeatureStoreConfig, two_snapshots: tuple[int, int]) -> None:
    first, second = two_snapshots
    old, new = snapshot_files(store, first), snapshot_files(store)
    assert len(old) == 2 and len(new) == 3 and set(old) < set(new)
    assert snapshot_files(store, second) == new
    assert all("/_staging/" not in url for url in new)


def test_duckdb_uses_given_connection(store: FeatureStoreConfig, two_snapshots: tuple[int, int]) -> None:
    connection = duckdb.connect()
    relation = duckdb_relation(store, connection=connection)
    relation.create_view("samples")
    assert connection.sql("select count(*) from samples where split = 'train'").fetchall() == [(6,)]


def test_readers_before_first_commit(store: FeatureStoreConfig) -> None:
    assert current_snapshot_id(store) is None
    assert read_arrow(store, columns=["sample_id"]).num_rows == 0
    assert snapshot_files(store) == []
    assert duckdb_relation(store).count("*").fetchall() == [(0,)]
    with pytest.raises(ValueError, match="no committed snapshot"):
        resolve_snapshot(store, None)
    with pytest.raises(ValueError, match="snapshot_id 12 is not a snapshot"):
        read_arrow(store, 12)


def test_resolve_snapshot(store: FeatureStoreConfig, two_snapshots: tuple[int, int]) -> None:
    first, second = two_snapshots
    table = ensure_tables(open_catalog(store), store).samples
    table.manage_snapshots().create_tag(first, "v1").commit()
    assert resolve_snapshot(store, None) == second
    assert resolve_snapshot(store, str(first)) == first
    assert resolve_snapshot(store, first) == first
    assert resolve_snapshot(store, "v1") == first
    with pytest.raises(ValueError, match="'nope' is neither"):
        resolve_snapshot(store, "nope")
    with pytest.raises(ValueError, match="snapshot_id 123 is not"):
        resolve_snapshot(store, "123")


def test_unknown_columns_are_refused(store: FeatureStoreConfig, two_snapshots: tuple[int, int]) -> None:
    with pytest.raises(ValueError, match=r"\['nope'\]"):
        read_arrow(store, columns=["sample_id", "nope"])


def test_ray_dataset_before_first_commit_is_empty(store: FeatureStoreConfig, local_ray: None) -> None:
    dataset = ray_dataset(store, columns=["sample_id", "seed"])
    assert dataset.count() == 0 and dataset.schema().names == ["sample_id", "seed"]


def test_duckdb_reads_remote_urls_through_fsspec(
    store: FeatureStoreConfig, two_snapshots: tuple[int, int], monkeypatch: pytest.MonkeyPatch
) -> None:
    memory = fsspec.filesystem("memory")
    remote = []
    for index, url in enumerate(snapshot_files(store)):
        remote.append(f"memory:///fs-test-{uuid4().hex}/part-{index}.parquet")
        with fsspec.open(url, "rb") as handle:
            memory.pipe(remote[-1], handle.read())
    monkeypatch.setattr("featurestore.readers.snapshot_files", lambda config, snapshot_id=None: remote)
    assert duckdb_relation(store).count("*").fetchall() == [(9,)]
