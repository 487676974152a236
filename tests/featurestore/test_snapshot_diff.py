from __future__ import annotations

import pyarrow as pa
import pytest
from pyiceberg.expressions import EqualTo, In

from featurestore.catalog import open_catalog
from featurestore.commit import commit_run
from featurestore.config import FeatureStoreConfig
from featurestore.maintenance import tag_snapshot
from featurestore.modality import VQ_TOKENS, Modality
from featurestore.readers import current_snapshot_id
from featurestore.schema import SAMPLES_SCHEMA
from featurestore.snapshot_diff import RowChange, diff_snapshots
from tests.featurestore.conftest import CONFIG_HASH, StageSamples, sample_row

pytestmark = pytest.mark.integration  # ~5 s in all, measured on 2 loaded cores

PROPS = {"config_hash": CONFIG_HASH}


def _samples(store: FeatureStoreConfig):
    return open_catalog(store).load_table(store.samples_identifier)


def test_diff_reports_added_removed_and_recomputed_modality(
    store: FeatureStoreConfig, stage_samples: StageSamples
) -> None:
    stage_samples("run1", 6, files=2)
    first = commit_run(store, "run1", PROPS).snapshot_id
    stage_samples("run2", 3, start=6)
    commit_run(store, "run2", PROPS)
    table = _samples(store)
    table.delete(EqualTo("sample_id", "sample-00001"))
    recomputed = sample_row(2)
    recomputed[Modality.DEPTH.tokens_column] = [7] * VQ_TOKENS
    table.delete(EqualTo("sample_id", "sample-00002"))
    table.append(pa.Table.from_pylist([recomputed], SAMPLES_SCHEMA))

    diff = diff_snapshots(store, first, None)

    assert diff.snapshot_a == first and diff.snapshot_b == current_snapshot_id(store)
    assert (diff.rows_a, diff.rows_b) == (6, 8)
    assert diff.added == ("sample-00006", "sample-00007", "sample-00008")
    assert diff.removed == ("sample-00001",)
    assert diff.changed == (RowChange("sample-00002", (Modality.DEPTH.tokens_column,)),)
    assert diff.recomputed_columns == (Modality.DEPTH.tokens_column,)
    assert diff.recomputed_modalities == (Modality.DEPTH,)
    assert diff.unchanged == 4


def test_diff_of_rewritten_but_equal_rows_is_empty(store: FeatureStoreConfig, stage_samples: StageSamples) -> None:
    stage_samples("run1", 4)
    first = commit_run(store, "run1", PROPS).snapshot_id
    tag_snapshot(store, "before", first)
    table = _samples(store)
    ids = ["sample-00000", "sample-00003"]
    table.delete(In("sample_id", ids))
    table.append(pa.Table.from_pylist([sample_row(0), sample_row(3)], SAMPLES_SCHEMA))

    diff = diff_snapshots(store, "before", current_snapshot_id(store))

    assert diff.added == diff.removed == diff.changed == ()
    assert diff.recomputed_modalities == () and diff.unchanged == 4


def test_diff_names_columns_and_modalities_of_several_changes(
    store: FeatureStoreConfig, stage_samples: StageSamples
) -> None:
    stage_samples("run1", 3)
    first = commit_run(store, "run1", PROPS).snapshot_id
    changed = [sample_row(0), sample_row(1)]
    changed[0][Modality.CAPTION.map_column] = "a new caption"
    changed[0][Modality.CAPTION.tokens_column] = [1] * 77
    changed[1][Modality.EDGES.map_column] = None
    changed[1][Modality.EDGES.tokens_column] = None
    changed[1]["seed"] = 99
    table = _samples(store)
    table.delete(In("sample_id", ["sample-00000", "sample-00001"]))
    table.append(pa.Table.from_pylist(changed, SAMPLES_SCHEMA))

    diff = diff_snapshots(store, first, None)

    assert [change.sample_id for change in diff.changed] == ["sample-00000", "sample-00001"]
    assert diff.changed[0].columns == ("caption", "caption_token_ids")
    assert diff.changed[1].columns == ("seed", "edges_png", "edges_tokens")
    assert diff.recomputed_modalities == (Modality.CAPTION, Modality.EDGES)


def test_diff_refuses_duplicate_sample_ids(store: FeatureStoreConfig, stage_samples: StageSamples) -> None:
    stage_samples("run1", 2)
    first = commit_run(store, "run1", PROPS).snapshot_id
    stage_samples("run2", 1)  # sample-00000 again, injected: a base that claims it was already left out
    commit_run(store, "run2", PROPS, base_snapshot_id=first)
    with pytest.raises(ValueError, match="2 rows with sample_id 'sample-00000'"):
        diff_snapshots(store, first, None)
