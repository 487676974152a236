from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pytest
from pyiceberg.table.snapshots import Operation, Snapshot, Summary

from featurestore.commit import commit_run
from featurestore.config import FeatureStoreConfig
from featurestore.inspection import list_snapshots
from featurestore.maintenance import ExpireReport, check_orphan_grace, expire_snapshots, plan_expiry, tag_snapshot
from featurestore.readers import current_snapshot_id, read_arrow, resolve_snapshot
from featurestore.staging import DEFAULT_STAGING_TTL_S
from tests.featurestore.conftest import CONFIG_HASH, StageSamples

pytestmark = pytest.mark.integration  # ~7.7 s in all, measured on 2 loaded cores

PROPS = {"config_hash": CONFIG_HASH}
LATER = datetime.now(timezone.utc) + timedelta(days=1)


@pytest.fixture
def three_snapshots(store: FeatureStoreConfig, stage_samples: StageSamples) -> list[int]:
    ids = []
    for run in range(3):
        stage_samples(f"run{run}", 2, start=2 * run)
        ids.append(commit_run(store, f"run{run}", PROPS).snapshot_id)
    return ids


def test_tag_names_a_snapshot_and_replace_moves_it(store: FeatureStoreConfig, three_snapshots: list[int]) -> None:
    first, second, third = three_snapshots
    assert tag_snapshot(store, "paper-v1", first).snapshot_id == first
    assert resolve_snapshot(store, "paper-v1") == first
    with pytest.raises(ValueError, match=f"already points at snapshot {first}"):
        tag_snapshot(store, "paper-v1", second)
    moved = tag_snapshot(store, "paper-v1", str(second), replace=True)
    assert (moved.snapshot_id, moved.replaced) == (second, first)
    assert resolve_snapshot(store, "paper-v1") == second
    assert tag_snapshot(store, "latest").snapshot_id == third


@pytest.mark.parametrize(
    ("name", "needle"), [("main", "is a branch"), ("123", "must not be a number"), ("a b", "whitespace")]
)
def test_tag_refuses_bad_names(store: FeatureStoreConfig, three_snapshots: list[int], name: str, needle: str) -> None:
    with pytest.raises(ValueError, match=needle):
        tag_snapshot(store, name, three_snapshots[0], replace=True)
    assert current_snapshot_id(store) == three_snapshots[-1]


def test_expire_dry_run_changes_nothing(store: FeatureStoreConfig, three_snapshots: list[int]) -> None:
    first, second, third = three_snapshots
    tag_snapshot(store, "keep", first)
    report = expire_snapshots(store, LATER, retain_last=1, dry_run=True)
    assert report == ExpireReport(expired=(second,), kept=(first, third), protected=(first, third), dry_run=True)
    assert "would expire 1" in report.summary
    assert [info.snapshot_id for info in list_snapshots(store)] == three_snapshots


def test_expire_keeps_tagged_and_current_and_readers_still_work(
    store: FeatureStoreConfig, three_snapshots: list[int]
) -> None:
    first, second, third = three_snapshots
    tag_snapshot(store, "keep", first)
    report = expire_snapshots(store, LATER, retain_last=0)
    assert report.expired == (second,) and not report.dry_run
    assert report.kept == (first, third)
    assert [info.snapshot_id for info in list_snapshots(store)] == [first, third]
    assert read_arrow(store, first).num_rows == 2
    assert read_arrow(store).num_rows == 6  # the current snapshot still references every file
    assert expire_snapshots(store, LATER, retain_last=0).expired == ()


def test_expire_respects_cutoff_and_checks_arguments(store: FeatureStoreConfig, three_snapshots: list[int]) -> None:
    past = datetime.now(timezone.utc) - timedelta(days=1)
    assert expire_snapshots(store, past, retain_last=0).expired == ()
    with pytest.raises(ValueError, match="timezone-aware"):
        expire_snapshots(store, datetime.now(), retain_last=1)
    with pytest.raises(ValueError, match="retain_last"):
        expire_snapshots(store, LATER, retain_last=-1)


def _snapshot(snapshot_id: int, timestamp_ms: int) -> Snapshot:
    return Snapshot(
        snapshot_id=snapshot_id, timestamp_ms=timestamp_ms, manifest_list="m.avro", summary=Summary(Operation.APPEND)
    )


def test_plan_expiry_keeps_newest_and_protected() -> None:
    snapshots = [_snapshot(i, 1_000 * i) for i in (3, 1, 4, 2, 5)]
    cutoff = datetime.fromtimestamp(4.5, tz=timezone.utc)  # snapshots 1..4 are older
    report = plan_expiry(snapshots, {1}, cutoff, retain_last=2, dry_run=False)
    assert report.expired == (2, 3) and report.protected == (1, 4) and report.kept == (1, 4, 5)
    assert plan_expiry(snapshots, set(), cutoff, retain_last=0, dry_run=True).expired == (1, 2, 3, 4)


@pytest.mark.parametrize("grace_s", [float("nan"), float("inf"), -1.0])
def test_a_grace_that_is_no_finite_number_is_refused_even_forced(grace_s: float) -> None:
    with pytest.raises(ValueError, match="finite number >= 0"):
        check_orphan_grace(grace_s, force=True)


def test_a_grace_below_the_lease_timeout_needs_force(store: FeatureStoreConfig, three_snapshots: list[int]) -> None:
    with pytest.raises(ValueError, match=r"shorter than the staging-lease timeout \(24 h\).*--force"):
        expire_snapshots(store, LATER, retain_last=0, orphan_grace_s=3600)
    assert current_snapshot_id(store) == three_snapshots[-1] and len(list_snapshots(store)) == 3  # nothing ran
    check_orphan_grace(DEFAULT_STAGING_TTL_S)
    check_orphan_grace(0.0, force=True)
    assert expire_snapshots(store, LATER, retain_last=0, orphan_grace_s=0, force=True).expired == tuple(three_snapshots[:2])
