from __future__ import annotations

import json

import pyarrow as pa
import pytest

from featurestore.catalog import SCHEMA_VERSION_PROPERTY, open_catalog
from featurestore.commit import commit_run
from featurestore.config import FeatureStoreConfig
from featurestore.inspection import describe_snapshot, list_snapshots
from featurestore.maintenance import tag_snapshot
from featurestore.modality import Modality
from featurestore.schema import SAMPLES_SCHEMA, SCHEMA_VERSION
from featurestore.staging import SAMPLES_DIR, staging_dir
from tests.featurestore.conftest import CONFIG_HASH, StageSamples, sample_row, write_parquet

pytestmark = pytest.mark.integration  # ~1.9 s in all, measured on 2 loaded cores

PROPS = {"config_hash": CONFIG_HASH}


def test_list_snapshots_is_empty_before_first_commit(store: FeatureStoreConfig) -> None:
    assert list_snapshots(store) == []
    with pytest.raises(ValueError, match="no committed snapshot"):
        describe_snapshot(store)


def test_list_snapshots_reports_runs_refs_and_current(store: FeatureStoreConfig, stage_samples: StageSamples) -> None:
    stage_samples("run1", 4, files=2)
    first = commit_run(store, "run1", {**PROPS, "inputs": "5"}).snapshot_id
    stage_samples("run2", 3, start=4)
    second = commit_run(store, "run2", {"config_hash": "cfg-two"}).snapshot_id
    tag_snapshot(store, "paper-v1", first)

    listed = list_snapshots(store)

    assert [info.snapshot_id for info in listed] == [first, second]
    one, two = listed
    assert (one.run_id, one.config_hash, one.rows, one.errors, one.parent_id) == ("run1", CONFIG_HASH, 4, 0, None)
    assert (two.run_id, two.config_hash, two.rows, two.parent_id) == ("run2", "cfg-two", 3, first)
    assert one.refs == ("paper-v1",) and two.refs == ("main",)
    assert (one.is_current, two.is_current) == (False, True)
    assert one.operation == "append" and one.properties["inputs"] == "5"
    assert one.timestamp <= two.timestamp and one.timestamp.tzinfo is not None


def _stage_rows(store: FeatureStoreConfig, run_id: str, rows: list[dict]) -> None:
    url = f"{staging_dir(store, run_id)}/{SAMPLES_DIR}/part-0.parquet"
    write_parquet(url, pa.Table.from_pylist(rows, SAMPLES_SCHEMA))


def test_describe_snapshot_counts_coverage_and_lineage(store: FeatureStoreConfig) -> None:
    rows = [sample_row(index) for index in range(8)]  # index % 4 == 0 -> eval: rows 0 and 4
    for row in rows[:2]:
        row[Modality.DEPTH.tokens_column] = None
        row[Modality.DEPTH.map_column] = None
    rows[0][Modality.CAPTION.tokens_column] = None
    rows[3]["extractors"] = json.dumps({"depth": "depth-anything@abc", "caption": "blip@1"})
    rows[3]["pipeline_version"] = "0.2"
    _stage_rows(store, "run1", rows[:5])
    commit_run(store, "run1", PROPS)
    _stage_rows(store, "run2", rows[5:])
    second = commit_run(store, "run2", PROPS).snapshot_id

    found = describe_snapshot(store, None)

    assert found.info.snapshot_id == second and found.info.is_current
    assert found.rows == 8 and dict(found.split_counts) == {"eval": 2, "train": 6}
    coverage = {entry.modality: entry.share for entry in found.coverage}
    assert coverage == {Modality.CAPTION: 7 / 8, Modality.DEPTH: 6 / 8, Modality.SEGMENTATION: 1.0, Modality.EDGES: 1.0}
    assert found.lineage.config_hashes == (CONFIG_HASH,)
    assert found.lineage.pipeline_versions == ("0.2", "test")
    assert found.lineage.extractors == ('{"caption": "blip@1", "depth": "depth-anything@abc"}', "{}")
    assert found.lineage.run_ids == ("run2", "run1")
    assert found.data_files == 2 and found.data_bytes > 0
    assert found.schema_version == str(SCHEMA_VERSION)
    assert [field.name for field in found.schema.fields] == SAMPLES_SCHEMA.names
    assert found.schema_differences == ()


def test_describe_snapshot_by_tag_sees_that_version(store: FeatureStoreConfig, stage_samples: StageSamples) -> None:
    stage_samples("run1", 3)
    first = commit_run(store, "run1", PROPS).snapshot_id
    stage_samples("run2", 2, start=3)
    commit_run(store, "run2", PROPS)
    tag_snapshot(store, "v1", first)

    by_tag, by_id = describe_snapshot(store, "v1"), describe_snapshot(store, str(first))

    assert by_tag.info.snapshot_id == by_id.info.snapshot_id == first
    assert by_tag.rows == 3 and by_tag.lineage.run_ids == ("run1",)
    assert by_tag.info.refs == ("v1",) and not by_tag.info.is_current
    table = open_catalog(store).load_table(store.samples_identifier)
    assert by_tag.schema_version == table.properties[SCHEMA_VERSION_PROPERTY]
    with pytest.raises(ValueError, match="no-such-tag"):
        describe_snapshot(store, "no-such-tag")
