from __future__ import annotations

import json

import pyarrow as pa
import pytest

from featurestore.commit import commit_run
from featurestore.config import FeatureStoreConfig
from featurestore.schema import SAMPLES_SCHEMA
from featurestore.snapshot_error import SnapshotNotFoundError
from featurestore.split_lineage import split_lineage
from featurestore.staging import SAMPLES_DIR, staging_dir
from tests.featurestore.conftest import sample_row, write_parquet

EDGES_30 = {"edges": "opencv-canny@4:30,90", "depth": "d@unpinned"}
EDGES_99 = {"depth": "d@unpinned", "edges": "opencv-canny@4:99,99"}


def _commit(store: FeatureStoreConfig, run_id: str, indices: range, extractors: dict[str, str], config_hash: str,
            properties: dict[str, str]) -> int:
    rows = []
    for index in indices:  # every 4th row is in the eval split
        row = sample_row(index, config_hash)
        row["extractors"] = json.dumps(extractors)  # keys as given: the lineage sorts them
        rows.append(row)
    write_parquet(f"{staging_dir(store, run_id)}/{SAMPLES_DIR}/part-0.parquet", pa.Table.from_pylist(rows, SAMPLES_SCHEMA))
    snapshot_id = commit_run(store, run_id, {"config_hash": config_hash, **properties}).snapshot_id
    assert snapshot_id is not None
    return snapshot_id


def test_train_rows_lineage_counts_each_setting_and_finds_the_runs_that_made_them(store: FeatureStoreConfig) -> None:
    first = _commit(store, "run1", range(0, 8), EDGES_30, "h1", {"vq_tokenizer": "old"})
    _commit(store, "run2", range(8, 12), EDGES_99, "h2", {"vq_tokenizer": "other"})
    third = _commit(store, "run3", range(12, 16), EDGES_30, "h1", {"vq_tokenizer": "new"})

    lineage = split_lineage(store, third)

    assert lineage.rows == 12 and lineage.split == "train"
    assert lineage.extractors == {json.dumps(EDGES_30, sort_keys=True): 9, json.dumps(EDGES_99, sort_keys=True): 3}
    assert lineage.config_hashes == {"h1": 9, "h2": 3}
    assert lineage.run_properties["h1"]["vq_tokenizer"] == "new"  # the newest run under that hash
    assert lineage.run_properties["h2"]["run_id"] == "run2"
    assert split_lineage(store, first).config_hashes == {"h1": 6}  # the snapshot it names, not the current one
    assert split_lineage(store, third, "eval").rows == 4


def test_an_unknown_snapshot_is_refused(store: FeatureStoreConfig) -> None:
    _commit(store, "run1", range(0, 2), EDGES_30, "h1", {})
    with pytest.raises(SnapshotNotFoundError, match="12345"):
        split_lineage(store, 12345)
