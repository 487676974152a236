from __future__ import annotations

from pathlib import Path
from uuid import uuid4

import pyarrow as pa
import pytest

from featurestore.config import FeatureStoreConfig
from featurestore.schema import SAMPLES_SCHEMA
from featurestore.staging import discard_staging, list_staged, staging_dir
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
