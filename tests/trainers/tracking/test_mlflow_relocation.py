"""A copied SQLite MLflow store: refused while it records the original, relocated in one
transaction, then its artifacts are read from the copy; an unrelated artifact root is no move."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from featurestore.workdir_move import PathMove, WorkdirMovedError
from trainers.tracking.mlflow_relocation import recorded_move, relocate_mlflow_store
from trainers.tracking.mlflow_runs import create_run, experiment_id, store_location, tracking_client
from trainers.tracking.tracking_config import TrackingConfig

pytestmark = pytest.mark.integration  # ~3.5 s in all, measured on 2 loaded cores


def _tracking(root: Path) -> TrackingConfig:
    return TrackingConfig(tracking_uri=f"sqlite:///{root}/mlflow.db", artifact_location=str(root / "mlartifacts"))


def _store_with_a_run(root: Path) -> str:
    tracking = _tracking(root)
    client = tracking_client(tracking)
    run_id = create_run(client, experiment_id(client, tracking), "run", {"workdir": str(root)})
    client.log_text(run_id, "hello", "note.txt")
    return run_id


def test_a_copied_store_is_refused_relocated_and_read_from_the_copy(tmp_path: Path) -> None:
    original, copy = tmp_path / "original" / "runs", tmp_path / "copy" / "runs"
    run_id = _store_with_a_run(original)
    shutil.copytree(original, copy)
    store = store_location(_tracking(copy))
    assert store is not None and recorded_move(store) == PathMove(old=str(original), new=str(copy))
    with pytest.raises(WorkdirMovedError, match=f"moved from {original} to {copy}"):
        tracking_client(_tracking(copy))

    report = relocate_mlflow_store(store)
    assert report.move == PathMove(old=str(original), new=str(copy)) and report.values >= 3
    shutil.rmtree(original)
    client = tracking_client(_tracking(copy))
    run = client.get_run(run_id)
    assert run.info.artifact_uri.startswith(copy.as_uri()) and run.data.params["workdir"] == str(copy)
    local = client.download_artifacts(run_id, "note.txt", str(tmp_path))
    assert Path(local).read_text() == "hello"
    assert str(original).encode() not in (copy / "mlflow.db").read_bytes()
    assert relocate_mlflow_store(store).move is None  # idempotent


def test_an_artifact_root_without_the_stores_artifacts_is_not_a_move(tmp_path: Path) -> None:
    _store_with_a_run(tmp_path / "runs")
    unrelated = tmp_path / "other" / "mlartifacts"
    unrelated.mkdir(parents=True)
    tracking = TrackingConfig(tracking_uri=f"sqlite:///{tmp_path}/runs/mlflow.db", artifact_location=str(unrelated))
    store = store_location(tracking)
    assert store is not None and recorded_move(store) is None
    assert tracking_client(tracking).get_experiment_by_name("mmsr") is not None


def test_only_local_sqlite_stores_have_a_location() -> None:
    assert store_location(TrackingConfig(tracking_uri="http://127.0.0.1:5000")) is None
    assert store_location(TrackingConfig(artifact_location="gs://bucket/mlartifacts")) is None
