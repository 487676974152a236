"""A run killed with SIGKILL between staging and commit commits nothing, and the next run cleans up."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

from featurestore.commit import commit_run
from featurestore.config import FeatureStoreConfig
from featurestore.readers import current_snapshot_id, read_arrow
from featurestore.staging import claim_staging, list_staged, staged_run_ids
from tests.featurestore.conftest import CONFIG_HASH, StageSamples

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
    open(sys.argv[3], "w").close()  # staged: tell the test, then wait to be killed
    time.sleep(120)
    commit_run(store, "killed", {"config_hash": "cfg-test"})
    """
)


def _start_and_kill(store: FeatureStoreConfig, ready: Path) -> None:
    """Run ``_RUN`` in a subprocess, SIGKILL it once it has staged its rows (before its commit)."""
    process = subprocess.Popen(
        [sys.executable, "-c", _RUN, store.catalog_uri, store.warehouse, str(ready)], cwd=REPO,
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
