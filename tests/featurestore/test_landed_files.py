"""A commit whose snapshot lost a file after it landed is undone where it can be, and always raises."""

from __future__ import annotations

from pathlib import Path

import pytest

from featurestore.catalog import open_catalog
from featurestore.commit import commit_run
from featurestore.config import FeatureStoreConfig
from featurestore.landed_files import MissingCommittedFileError, missing_files, verify_landed
from featurestore.readers import current_snapshot_id, read_arrow, snapshot_files
from tests.featurestore.conftest import CONFIG_HASH, StageSamples

pytestmark = pytest.mark.integration  # ~2.6 s in all, measured on 2 loaded cores

PROPS = {"config_hash": CONFIG_HASH}


def _two_commits(store: FeatureStoreConfig, stage_samples: StageSamples) -> tuple[int, int, str]:
    stage_samples("run1", 2)
    first = commit_run(store, "run1", PROPS).snapshot_id
    stage_samples("run2", 2, start=2)
    second = commit_run(store, "run2", PROPS).snapshot_id
    (added,) = set(snapshot_files(store, second)) - set(snapshot_files(store, first))
    return first, second, added


def test_nothing_happens_while_every_file_exists(store: FeatureStoreConfig, stage_samples: StageSamples) -> None:
    _, second, added = _two_commits(store, stage_samples)
    verify_landed(open_catalog(store), store.samples_identifier, second, [added])
    assert current_snapshot_id(store) == second and missing_files([added]) == []


def test_a_lost_file_undoes_the_snapshot_while_it_is_the_head(store: FeatureStoreConfig, stage_samples: StageSamples) -> None:
    first, second, added = _two_commits(store, stage_samples)
    Path(added.removeprefix("file://")).unlink()
    with pytest.raises(MissingCommittedFileError, match=r"1 of its 1 new data files are missing.*set back to its parent"):
        verify_landed(open_catalog(store), store.samples_identifier, second, [added])
    assert current_snapshot_id(store) == first  # nothing of the run is visible, every row readable
    assert read_arrow(store, columns=["sample_id"]).num_rows == 2


def test_a_lost_file_under_a_newer_head_is_reported_as_damage(store: FeatureStoreConfig, stage_samples: StageSamples) -> None:
    _, second, added = _two_commits(store, stage_samples)
    stage_samples("run3", 2, start=4)
    third = commit_run(store, "run3", PROPS).snapshot_id
    Path(added.removeprefix("file://")).unlink()
    with pytest.raises(MissingCommittedFileError, match=r"could not be undone.*mmsr features validate"):
        verify_landed(open_catalog(store), store.samples_identifier, second, [added])
    assert current_snapshot_id(store) == third  # another run's snapshot is never rolled back
