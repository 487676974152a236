"""The base snapshot's committed samples, read by the workers and keyed by source."""

from __future__ import annotations

import pytest
from apache_beam.testing.test_pipeline import TestPipeline
from apache_beam.testing.util import assert_that, equal_to

from featurestore.commit import commit_run
from featurestore.snapshot_manifests import CommittedKey, current_snapshot_ref
from pipelines.committed_samples import CommittedSamples
from tests.featurestore.conftest import StageSamples, sample_row, stage_samples, store  # noqa: F401 (fixtures)

pytestmark = pytest.mark.integration  # ~3 s in all, measured on 2 loaded cores


def test_every_committed_row_of_the_content_hash_keyed_by_its_source(store, stage_samples: StageSamples) -> None:  # noqa: F811
    stage_samples("run1", 3, files=2)
    commit_run(store, "run1", {"config_hash": "cfg-test"})
    stage_samples("run2", 2, start=3)
    commit_run(store, "run2", {"config_hash": "cfg-test"})
    expected = [
        (sample_row(i)["source_sha256"], CommittedKey(sample_row(i)["source_sha256"], f"sample-{i:05d}", "{}"))
        for i in range(5)
    ]
    with TestPipeline() as pipeline:
        assert_that(pipeline | CommittedSamples(current_snapshot_ref(store), "cfg-test"), equal_to(expected), label="All")
        assert_that(pipeline | "Other" >> CommittedSamples(current_snapshot_ref(store), "x"), equal_to([]), label="None")
        assert_that(pipeline | "Empty" >> CommittedSamples(None, "cfg-test"), equal_to([]), label="NoBase")
