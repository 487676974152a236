"""A run killed with SIGKILL before or inside its commit commits nothing and leaves nothing behind
once the next run (or ``features expire``) has cleaned up; ``features validate`` reports what it left."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import time
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest

from featurestore.commit import commit_run
from featurestore.config import FeatureStoreConfig
from featurestore.maintenance import expire_snapshots
from featurestore.orphan_files import find_orphans
from featurestore.readers import current_snapshot_id, read_arrow
from featurestore.staging import claim_staging, list_staged, staged_run_ids
from featurestore.validation import Severity, validate_snapshot
from tests.featurestore.conftest import CONFIG_HASH, StageSamples

pytestmark = pytest.mark.integration  # ~23 s in all, measured on 2 loaded cores

REPO = Path(__file__).resolve().parents[2]

_RUN = textwrap.dedent(
    """
    import sys, time
    import pyarrow as pa
    from featurestore.commit import commit_run
    from featurestore.config import FeatureStoreConfig
    from featurestore.schema import SAMPLES_SCHEMA
    from featurestore.staging import SAMPLES_DIR, claim_staging, staging_dir
    from tests.featurestore.conftest import sample_row, write_parquet

    store = FeatureStoreConfig(catalog_uri=sys.argv[1], warehouse=sys.argv[2])
    claim_staging(store, "killed")
    rows = pa.Table.from_pylist([sample_row(index) for index in range(4, 10)], SAMPLES_SCHEMA)
    write_parquet(f"{staging_dir(store, 'killed')}/{SAMPLES_DIR}/part-00000.parquet", rows)
    if sys.argv[4] == "staged":
        open(sys.argv[3], "w").close()  # staged: tell the test, then wait to be killed
        time.sleep(120)
    else:  # in the commit window: the files are in the table's data location, no snapshot yet
        from pyiceberg.table import Table

        def wait_to_be_killed(*args, **kwargs):
            open(sys.argv[3], "w").close()
            time.sleep(120)

        Table.add_files = wait_to_be_killed
    commit_run(store, "killed", {"config_hash": "cfg-test"})
    """
)


def _start_and_kill(store: FeatureStoreConfig, ready: Path, when: str = "staged") -> None:
    """Run ``_RUN`` in a subprocess, SIGKILL it once it has staged its rows (``staged``) or once its
    commit has moved them into the table (``committing``)."""
    process = subprocess.Popen(
        [sys.executable, "-c", _RUN, store.catalog_uri, store.warehouse, str(ready), when], cwd=REPO,
        env={**os.environ, "PYTHONPATH": str(REPO)},
    )
    deadline = time.monotonic() + 60
    while not ready.exists():
        assert process.poll() is None, f"the run exited early with status {process.returncode}"
        assert time.monotonic() < deadline, "the run did not stage its rows within 60 s"
        time.sleep(0.05)
    process.send_signal(signal.SIGKILL)
    assert process.wait(timeout=30) == -signal.SIGKILL


def test_killed_run_commits_nothing_and_is_cleaned_up(
    store: FeatureStoreConfig, stage_samples: StageSamples, tmp_path: Path
) -> None:
    stage_samples("first", 4)
    before = commit_run(store, "first", {"config_hash": CONFIG_HASH}).snapshot_id

    _start_and_kill(store, tmp_path / "staged")
    assert current_snapshot_id(store) == before  # no snapshot landed
    assert read_arrow(store, columns=["sample_id"]).num_rows == 4  # no visible rows
    assert len(list_staged(store, "killed").samples) == 1  # its files outlive it, invisible

    assert claim_staging(store, "rerun") == ["killed"]  # the next run removes them first
    assert staged_run_ids(store) == ["rerun"] and list_staged(store, "killed").samples == []

    stage_samples("rerun", 6, start=4)
    result = commit_run(store, "rerun", {"config_hash": CONFIG_HASH})
    ids = read_arrow(store, columns=["sample_id"])["sample_id"].to_pylist()
    assert result.rows == 6 and result.snapshot_id != before
    assert sorted(ids) == [f"sample-{index:05d}" for index in range(10)]  # exactly once, no duplicates
    assert staged_run_ids(store) == []


@pytest.mark.parametrize("cleanup", ["next run", "features expire"])
def test_killed_in_the_commit_window_its_orphans_are_reported_then_removed(
    store: FeatureStoreConfig, stage_samples: StageSamples, tmp_path: Path, cleanup: str
) -> None:
    stage_samples("first", 4)
    before = commit_run(store, "first", {"config_hash": CONFIG_HASH}).snapshot_id

    _start_and_kill(store, tmp_path / "committing", when="committing")
    assert current_snapshot_id(store) == before and read_arrow(store, columns=["sample_id"]).num_rows == 4
    (orphan,) = find_orphans(store)
    assert "/data/killed-part-00000.parquet" in orphan.url
    report = validate_snapshot(store, spot_check_rows=0)
    warnings = [issue for issue in report.issues if issue.severity is Severity.WARNING]
    assert report.ok and [issue.file for issue in warnings] == [orphan.url]
    assert "referenced by no snapshot" in warnings[0].message

    if cleanup == "next run":
        assert claim_staging(store, "rerun") == ["killed"]
    else:
        later = datetime.now(timezone.utc) + timedelta(days=1)
        assert [found.url for found in expire_snapshots(store, later, orphan_grace_s=0, force=True).orphans] == [orphan.url]
    assert find_orphans(store) == []
    assert not any(issue.severity is Severity.WARNING for issue in validate_snapshot(store, spot_check_rows=0).issues)
    assert read_arrow(store, columns=["sample_id"]).num_rows == 4
