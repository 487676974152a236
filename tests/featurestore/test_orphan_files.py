"""Orphan data files: found, reported with their age, removed only when old enough or provably dead."""

from __future__ import annotations

import time
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pyarrow as pa
import pytest

from featurestore.catalog import open_catalog
from featurestore.commit import commit_run
from featurestore.config import FeatureStoreConfig
from featurestore.maintenance import expire_snapshots
from featurestore.orphan_files import find_orphans, remove_orphans, remove_unreferenced
from featurestore.readers import read_arrow, snapshot_files
from featurestore.row_replacement import replace_rows
from featurestore.schema import SAMPLES_SCHEMA
from featurestore.staging import (
    LeaseHeartbeat,
    claim_staging,
    discard_staging,
    in_flight_targets,
    read_lease,
    record_commit_targets,
    staged_run_ids,
)
from featurestore.validation import validate_snapshot
from tests.featurestore.conftest import CONFIG_HASH, StageSamples, sample_row, write_parquet

pytestmark = pytest.mark.integration  # ~2.9 s in all, measured on 2 loaded cores

PROPS = {"config_hash": CONFIG_HASH}
LATER = datetime.now(timezone.utc) + timedelta(days=1)


def _stray(store: FeatureStoreConfig, name: str = "stray.parquet") -> str:
    location = open_catalog(store).load_table(store.samples_identifier).location()
    return write_parquet(f"{location}/data/{name}", pa.Table.from_pylist([sample_row(99)], SAMPLES_SCHEMA))


def _data_files(store: FeatureStoreConfig) -> list[str]:
    location = open_catalog(store).load_table(store.samples_identifier).location()
    return sorted(f"file://{path}" for path in Path(location.removeprefix("file://"), "data").iterdir())


def test_only_unreferenced_files_are_orphans_and_young_ones_survive(
    store: FeatureStoreConfig, stage_samples: StageSamples
) -> None:
    stage_samples("run1", 4, files=2)
    commit_run(store, "run1", PROPS)
    stray = _stray(store)
    (orphan,) = find_orphans(store)
    assert orphan.url == stray and orphan.bytes > 0 and 0 <= orphan.age_s < 60
    assert remove_orphans(store, grace_s=3600) == [] and Path(stray.removeprefix("file://")).exists()
    assert [found.url for found in remove_orphans(store, grace_s=0, dry_run=True)] == [stray]
    assert Path(stray.removeprefix("file://")).exists()
    assert [found.url for found in remove_orphans(store, grace_s=0)] == [stray]
    assert find_orphans(store) == [] and _data_files(store) == sorted(snapshot_files(store))


def test_remove_unreferenced_leaves_committed_and_missing_files_alone(
    store: FeatureStoreConfig, stage_samples: StageSamples
) -> None:
    stage_samples("run1", 2)
    commit_run(store, "run1", PROPS)
    (committed,) = snapshot_files(store)
    stray = _stray(store)
    assert remove_unreferenced(store, [committed, stray, stray.replace("stray", "never-written")]) == [stray]
    assert read_arrow(store, columns=["sample_id"]).num_rows == 2


def test_expire_removes_the_files_only_expired_snapshots_read(store: FeatureStoreConfig, stage_samples: StageSamples) -> None:
    stage_samples("run1", 6, files=3)
    first = commit_run(store, "run1", PROPS).snapshot_id
    replacements = pa.Table.from_pylist([sample_row(0), sample_row(1)], SAMPLES_SCHEMA)  # in two of the files
    replace_rows(store, replacements, lambda staged, committed: staged, "rerun", {})
    assert find_orphans(store) == []  # the rewritten files are still read by the first snapshot
    report = expire_snapshots(store, LATER, retain_last=0, orphan_grace_s=0, force=True)
    assert report.expired == (first,) and len(report.orphans) == 2
    assert _data_files(store) == sorted(snapshot_files(store))
    assert sorted(read_arrow(store, columns=["sample_id"])["sample_id"].to_pylist()) == [
        f"sample-{index:05d}" for index in range(6)
    ]


def test_a_file_a_live_run_listed_is_no_orphan_whatever_the_grace(
    store: FeatureStoreConfig, stage_samples: StageSamples
) -> None:
    stage_samples("run1", 2)
    commit_run(store, "run1", PROPS)
    claim_staging(store, "live")  # this process: a live lease
    location = open_catalog(store).load_table(store.samples_identifier).location()
    moved_in = f"{location}/data/live-part-00000.parquet"
    record_commit_targets(store, "live", [moved_in])  # listed first, then moved in: a commit in flight
    write_parquet(moved_in, pa.Table.from_pylist([sample_row(7)], SAMPLES_SCHEMA))
    in_flight = lambda: in_flight_targets(store)  # noqa: E731
    assert [found.url for found in find_orphans(store)] == [moved_in]  # unreferenced, and nothing said it is leased
    assert find_orphans(store, in_flight=in_flight) == []
    assert remove_orphans(store, grace_s=0, in_flight=in_flight) == []
    report = expire_snapshots(store, LATER, retain_last=0, orphan_grace_s=0, force=True)
    assert report.orphans == () and Path(moved_in.removeprefix("file://")).exists()
    assert not any("orphan" in issue.message for issue in validate_snapshot(store, spot_check_rows=0).issues)

    discard_staging(store, "live")  # the run ended without committing it: now it is an orphan
    assert [found.url for found in expire_snapshots(store, LATER, orphan_grace_s=0, force=True).orphans] == [moved_in]
    assert not Path(moved_in.removeprefix("file://")).exists()


def test_lease_heartbeat_renews_until_the_block_ends_and_never_recreates_staging(store: FeatureStoreConfig) -> None:
    claim_staging(store, "long")
    first = read_lease(store, "long")
    assert first is not None
    with LeaseHeartbeat(store, "long", every_s=0.05):
        deadline = time.monotonic() + 10
        while read_lease(store, "long").heartbeat == first.heartbeat and time.monotonic() < deadline:
            time.sleep(0.02)
        assert read_lease(store, "long").heartbeat > first.heartbeat
        discard_staging(store, "long")  # the run committed: its staging is gone
        time.sleep(0.2)
    assert "long" not in staged_run_ids(store)
    with pytest.raises(ValueError, match="interval must be > 0"):
        LeaseHeartbeat(store, "long", every_s=0)
