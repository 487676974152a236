"""Replacing committed rows: one overwrite snapshot, every id once, exactly once under concurrency."""

from __future__ import annotations

import pyarrow as pa
import pyarrow.compute as pc
import pytest
from pyiceberg.table import Table

from featurestore.catalog import open_catalog
from featurestore.commit import commit_run
from featurestore.config import FeatureStoreConfig
from featurestore.orphan_files import find_orphans
from featurestore.readers import read_arrow
from featurestore.row_replacement import replace_rows
from featurestore.schema import SAMPLES_SCHEMA
from tests.featurestore.conftest import CONFIG_HASH, StageSamples, sample_row

pytestmark = pytest.mark.integration  # ~2.5 s in all, measured on 2 loaded cores

PROPS = {"config_hash": CONFIG_HASH}


def _replacements(indices: list[int], caption: str) -> pa.Table:
    rows = [sample_row(index) for index in indices]
    for row in rows:
        row["caption"] = caption
    return pa.Table.from_pylist(rows, SAMPLES_SCHEMA)


def _take_staged(staged: pa.Table, committed: pa.Table) -> pa.Table:
    return staged


def _captions(store: FeatureStoreConfig, snapshot_id: int | None = None) -> dict[str, str]:
    table = read_arrow(store, snapshot_id, columns=["sample_id", "caption"])
    return dict(zip(table["sample_id"].to_pylist(), table["caption"].to_pylist()))


def _samples_table(store: FeatureStoreConfig) -> Table:
    return open_catalog(store).load_table(store.samples_identifier)


@pytest.fixture
def six_rows(store: FeatureStoreConfig, stage_samples: StageSamples) -> int:
    """Six committed rows in three files; the snapshot id."""
    stage_samples("run1", 6, files=3)
    return commit_run(store, "run1", PROPS).snapshot_id


def test_replacing_rows_is_one_overwrite_snapshot_and_no_snapshot_reads_fewer_rows(
    store: FeatureStoreConfig, six_rows: int
) -> None:
    result = replace_rows(store, _replacements([0, 3, 4], "new"), _take_staged, "rerun", {"run_id": "rerun"})
    assert (result.replaced, result.left_out) == (3, 0)
    table = _samples_table(store)
    assert [s.snapshot_id for s in table.snapshots()] == [six_rows, result.snapshot_id]
    snapshot = table.snapshot_by_id(result.snapshot_id)
    assert snapshot.summary.operation.value == "overwrite" and snapshot.summary["replaced"] == "3"
    after = _captions(store)
    assert len(after) == read_arrow(store, columns=["sample_id"]).num_rows == 6  # every id once
    assert {sample_id for sample_id, caption in after.items() if caption == "new"} == {
        "sample-00000", "sample-00003", "sample-00004"
    }
    assert "new" not in _captions(store, six_rows).values()  # the parent still reads the old rows
    assert find_orphans(store) == []


def test_rows_the_merge_leaves_out_are_not_replaced(store: FeatureStoreConfig, six_rows: int) -> None:
    def only_even(staged: pa.Table, committed: pa.Table) -> pa.Table:
        return staged.filter(pc.is_in(staged["sample_id"], value_set=pa.array(["sample-00000", "sample-00002"])))

    result = replace_rows(store, _replacements([0, 1, 2], "new"), only_even, "rerun", {})
    assert (result.replaced, result.left_out) == (2, 1)
    assert sorted(k for k, v in _captions(store).items() if v == "new") == ["sample-00000", "sample-00002"]
    nothing = replace_rows(store, _replacements([5], "x"), lambda staged, committed: staged.slice(0, 0), "r2", {})
    assert (nothing.snapshot_id, nothing.replaced, nothing.left_out) == (None, 0, 1)
    assert len(_samples_table(store).snapshots()) == 2


def test_a_replacement_that_loses_the_race_starts_over_on_the_new_head(
    store: FeatureStoreConfig, six_rows: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    original = Table.transaction
    raced: list[bool] = []

    def theirs_first(self: Table) -> object:
        if not raced:
            raced.append(True)
            replace_rows(store, _replacements([3, 5], "theirs"), _take_staged, "theirs", {})
        return original(self)

    monkeypatch.setattr(Table, "transaction", theirs_first)
    result = replace_rows(store, _replacements([0, 3], "ours"), _take_staged, "ours", {})
    assert raced and result.replaced == 2
    after = _captions(store)
    assert len(after) == 6 and (after["sample-00000"], after["sample-00003"], after["sample-00005"]) == (
        "ours", "ours", "theirs"
    )
    assert len(_samples_table(store).snapshots()) == 3
    assert find_orphans(store) == []  # the lost attempt's files were removed
