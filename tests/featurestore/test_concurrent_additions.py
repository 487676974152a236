"""Which ids landed after a run's base: still found when a snapshot in between was expired."""

from __future__ import annotations

import pytest

from featurestore.catalog import open_catalog
from featurestore.commit import commit_run
from featurestore.config import FeatureStoreConfig
from featurestore.readers import read_arrow
from featurestore.validation import validate_snapshot
from tests.featurestore.conftest import CONFIG_HASH, StageSamples

pytestmark = pytest.mark.integration  # ~1.8 s in all, measured on 2 loaded cores

PROPS = {"config_hash": CONFIG_HASH}


def test_ids_a_since_expired_snapshot_added_are_not_committed_twice(
    store: FeatureStoreConfig, stage_samples: StageSamples
) -> None:
    stage_samples("base", 2)
    base = commit_run(store, "base", PROPS).snapshot_id
    stage_samples("late", 4, start=2)  # planned against base: ids 2..5
    stage_samples("other", 3, start=2)  # commits ids 2..4 first ...
    between = commit_run(store, "other", PROPS).snapshot_id
    stage_samples("newest", 1, start=10)  # ... then an unrelated snapshot, and the one in between is expired
    commit_run(store, "newest", PROPS)
    table = open_catalog(store).load_table(store.samples_identifier)
    table.maintenance.expire_snapshots().by_ids([between]).commit()

    result = commit_run(store, "late", PROPS, base_snapshot_id=base)
    assert (result.rows, result.already_present) == (1, 3)
    ids = read_arrow(store, columns=["sample_id"])["sample_id"].to_pylist()
    assert len(ids) == len(set(ids)) == 7
    assert validate_snapshot(store, spot_check_rows=0).ok
