"""A tiny MMSR pipeline registered in a tmp SQLite MLflow, shared by the orchestration tests."""

from __future__ import annotations

from pathlib import Path

import pytest

from orchestration.mlflow_runs import create_run, experiment_id, tracking_client
from orchestration.registry import RegisteredVersion, register_pipeline
from orchestration.serve_config import ServeConfig
from orchestration.tracking_config import TrackingConfig
from trainers.models.sr_pipeline import build_tiny_pipeline


@pytest.fixture(scope="session")
def tiny_pipeline_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return build_tiny_pipeline(tmp_path_factory.mktemp("models") / "mmsr-tiny")


@pytest.fixture(scope="module")
def tracking(tmp_path_factory: pytest.TempPathFactory) -> TrackingConfig:
    root = tmp_path_factory.mktemp("mlflow")
    return TrackingConfig(tracking_uri=f"sqlite:///{root}/mlflow.db", artifact_location=str(root / "artifacts"))


@pytest.fixture(scope="module")
def registered(tracking: TrackingConfig, tiny_pipeline_dir: Path) -> RegisteredVersion:
    client = tracking_client(tracking)
    run_id = create_run(client, experiment_id(client, tracking), "test", {"source": "test"})
    return register_pipeline(tracking, ServeConfig(steps=2), run_id, str(tiny_pipeline_dir), {"mmsr.test": "yes"})
