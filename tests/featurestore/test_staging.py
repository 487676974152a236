from __future__ import annotations

import dataclasses
import os
import time
from pathlib import Path
from uuid import uuid4

import pyarrow as pa
import pytest

from featurestore.config import FeatureStoreConfig
from featurestore.schema import SAMPLES_SCHEMA
from featurestore.staging import (
    _write_lease,
    claim_staging,
    cleanup_stale_staging,
    discard_staging,
    list_staged,
    read_lease,
    renew_lease,
    staged_run_ids,
    staging_dir,
)
from tests.featurestore.conftest import StageSamples, sample_row, write_parquet


def test_staging_dir_is_under_the_warehouse(store: FeatureStoreConfig, tmp_path: Path) -> None:
    assert staging_dir(store, "run-1.a") == f"file://{tmp_path}/warehouse/_staging/run-1.a"


@pytest.mark.parametrize("run_id", ["", "../up", "a/b", ".hidden", "x y"])
def test_bad_run_ids_are_refused(store: FeatureStoreConfig, run_id: str) -> None:
    with pytest.raises(ValueError, match="run_id"):
        staging_dir(store, run_id)


def test_list_and_discard(store: FeatureStoreConfig, stage_samples: StageSamples, stage_errors) -> None:
    assert list_staged(store, "run1").samples == []
    samples = stage_samples("run1", 3, files=2)
    errors = stage_errors("run1", 1)
    stage_samples("run2", 1)
    staged = list_staged(store, "run1")
    assert staged.samples == sorted(samples) and staged.errors == [errors]
    assert all(url.startswith("file:///") for url in staged.samples)
    discard_staging(store, "run1")
    assert list_staged(store, "run1").samples == list_staged(store, "run1").errors == []
    assert len(list_staged(store, "run2").samples) == 1
    discard_staging(store, "run1")  # a no-op the second time


def test_works_on_any_fsspec_filesystem() -> None:
    store = FeatureStoreConfig(warehouse=f"memory:///wh-{uuid4().hex}")
    url = f"{staging_dir(store, 'run1')}/samples/part-00000.parquet"
    write_parquet(url, pa.Table.from_pylist([sample_row(0)], SAMPLES_SCHEMA))
    assert list_staged(store, "run1").samples == [url]
    discard_staging(store, "run1")
    assert list_staged(store, "run1").samples == []


def _lease(store: FeatureStoreConfig, run_id: str, **changes: object) -> None:
    """Rewrite ``run_id``'s lease (after renew_lease) with ``changes``, e.g. another host or pid."""
    renew_lease(store, run_id)
    lease = read_lease(store, run_id)
    assert lease is not None
    _write_lease(store, dataclasses.replace(lease, **changes))


def test_claim_leases_the_run_and_keeps_live_runs(store: FeatureStoreConfig, stage_samples: StageSamples) -> None:
    stage_samples("live", 1)
    assert claim_staging(store, "live") == []
    assert claim_staging(store, "mine") == []  # "live" is leased by this (running) process
    lease = read_lease(store, "mine")
    assert lease is not None and lease.pid == os.getpid() and abs(lease.heartbeat - time.time()) < 60
    assert staged_run_ids(store) == ["live", "mine"] and len(list_staged(store, "live").samples) == 1


def test_cleanup_removes_only_runs_that_are_gone(store: FeatureStoreConfig, stage_samples: StageSamples) -> None:
    now = time.time()
    for run_id in ("dead-pid", "reused-pid", "remote-old", "remote-fresh", "mine", "unleased"):
        stage_samples(run_id, 1)
    _lease(store, "dead-pid", pid=2**22 + 12345)  # above pid_max: no such process
    _lease(store, "reused-pid", pid_started=now - 10_000)  # our pid, but another process's start time
    _lease(store, "remote-old", host="elsewhere", heartbeat=now - 7200)
    _lease(store, "remote-fresh", host="elsewhere", heartbeat=now - 60)
    renew_lease(store, "mine")
    assert cleanup_stale_staging(store, ttl_s=3600, now=now) == ["dead-pid", "remote-old", "reused-pid"]
    assert staged_run_ids(store) == ["mine", "remote-fresh", "unleased"]
    # a dir without a lease (e.g. written by an older version) goes once its newest file is older than the TTL
    assert cleanup_stale_staging(store, ttl_s=3600, now=now + 7200) == ["remote-fresh", "unleased"]
    assert staged_run_ids(store) == ["mine"]


def test_cleanup_without_any_staging_is_a_no_op(store: FeatureStoreConfig) -> None:
    assert staged_run_ids(store) == [] and cleanup_stale_staging(store) == []
