from __future__ import annotations

import json
from pathlib import Path

import mlflow
import pytest
from mlflow.tracking import MlflowClient

from featurestore.commit import commit_run
from featurestore.config import FeatureStoreConfig
from featurestore.mlflow_dataset import IcebergSnapshotSource, snapshot_dataset, snapshot_source
from featurestore.schema import SAMPLES_SCHEMA
from tests.featurestore.conftest import CONFIG_HASH, StageSamples

pytestmark = pytest.mark.integration  # ~8.5 s in all, measured on 2 loaded cores


@pytest.fixture
def snapshot_id(store: FeatureStoreConfig, stage_samples: StageSamples) -> int:
    stage_samples("run1", 3)
    committed = commit_run(store, "run1", {"config_hash": CONFIG_HASH}).snapshot_id
    assert committed is not None
    stage_samples("run2", 2, start=3)
    commit_run(store, "run2", {"config_hash": CONFIG_HASH})
    return committed


def test_snapshot_dataset_round_trips_through_mlflow(
    store: FeatureStoreConfig, snapshot_id: int, tmp_path: Path
) -> None:
    dataset = snapshot_dataset(store, snapshot_id)
    assert dataset.digest == str(snapshot_id)
    mlflow.set_tracking_uri(f"sqlite:///{tmp_path}/mlflow.db")
    try:
        experiment = mlflow.create_experiment("fs", artifact_location=(tmp_path / "artifacts").as_uri())
        with mlflow.start_run(experiment_id=experiment) as run:
            mlflow.log_input(dataset, context="training")
        logged = MlflowClient().get_run(run.info.run_id).inputs.dataset_inputs[0]
    finally:
        mlflow.set_tracking_uri(None)
    assert logged.dataset.digest == str(snapshot_id)
    assert logged.dataset.name == f"mmsr.samples@{snapshot_id}"
    assert logged.dataset.source_type == "iceberg"
    assert {tag.key: tag.value for tag in logged.tags}["mlflow.data.context"] == "training"
    source = IcebergSnapshotSource.from_json(logged.dataset.source)
    assert (source.table, source.snapshot_id) == ("samples", snapshot_id)
    assert source.load().num_rows == 3  # the old snapshot, not the current 5 rows
    assert [col["name"] for col in json.loads(logged.dataset.schema)["mlflow_colspec"]] == SAMPLES_SCHEMA.names


def test_snapshot_dataset_refuses_unknown_snapshot(store: FeatureStoreConfig, snapshot_id: int) -> None:
    with pytest.raises(ValueError, match="is not a snapshot"):
        snapshot_dataset(store, snapshot_id + 1)


def test_source_masks_catalog_password(tmp_path: Path) -> None:
    config = FeatureStoreConfig(catalog_uri="postgresql://user:secret@db/catalog", warehouse=str(tmp_path))
    source = snapshot_source(config, 7)
    assert "secret" not in source.catalog_uri and "user" in source.catalog_uri
    assert IcebergSnapshotSource.from_json(source.to_json()) == source
