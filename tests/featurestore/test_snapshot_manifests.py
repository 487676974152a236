"""A snapshot read piece by piece from its metadata: manifests, data files, identity columns."""

from __future__ import annotations

import pickle

from featurestore.commit import commit_run
from featurestore.config import FeatureStoreConfig
from featurestore.readers import snapshot_files
from featurestore.snapshot_manifests import (
    CommittedKey,
    current_snapshot_ref,
    manifest_data_files,
    read_identity_columns,
    snapshot_manifests,
)
from tests.featurestore.conftest import CONFIG_HASH, StageSamples, sample_row


def test_no_ref_before_the_first_commit(store: FeatureStoreConfig) -> None:
    assert current_snapshot_ref(store) is None


def test_the_ref_reaches_every_data_file_and_pickles_small(store: FeatureStoreConfig, stage_samples: StageSamples) -> None:
    stage_samples("run1", 4, files=2)
    commit_run(store, "run1", {"config_hash": CONFIG_HASH})
    stage_samples("run2", 3, start=4)
    commit_run(store, "run2", {"config_hash": CONFIG_HASH})
    ref = current_snapshot_ref(store)
    assert ref is not None and len(pickle.dumps(ref)) < 1000
    manifests = snapshot_manifests(ref)
    assert len(manifests) == 2  # one per append
    files = sorted(url for manifest in manifests for url in manifest_data_files(ref, manifest))
    assert files == snapshot_files(store)


def test_identity_columns_of_one_content_hash(store: FeatureStoreConfig, stage_samples: StageSamples) -> None:
    stage_samples("run1", 3)
    commit_run(store, "run1", {"config_hash": CONFIG_HASH})
    (url,) = snapshot_files(store)
    keys = list(read_identity_columns(url, CONFIG_HASH, batch_rows=2))
    assert keys == [CommittedKey(sample_row(i)["source_sha256"], f"sample-{i:05d}", "{}") for i in range(3)]
    assert list(read_identity_columns(url, "another-hash")) == []
