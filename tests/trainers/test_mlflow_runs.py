"""MLflow helpers: explicit clients, and a fluent URI that never outlives its block."""

from __future__ import annotations

from pathlib import Path

import mlflow
import pytest

from trainers.mlflow_runs import artifact_uri, fluent_tracking
from trainers.tracking_config import TrackingConfig


def test_fluent_tracking_leaves_no_uri_behind_when_none_was_set(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    mlflow.set_tracking_uri(None)
    inside = f"sqlite:///{tmp_path}/mlflow.db"
    with fluent_tracking(TrackingConfig(tracking_uri=inside)):
        assert mlflow.get_tracking_uri() == inside
    assert not mlflow.is_tracking_uri_set()
    monkeypatch.setenv("MLFLOW_TRACKING_URI", f"sqlite:///{tmp_path}/later.db")
    assert mlflow.get_tracking_uri() == f"sqlite:///{tmp_path}/later.db"


def test_fluent_tracking_restores_a_uri_the_user_set(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    users = f"sqlite:///{tmp_path}/users.db"
    monkeypatch.setenv("MLFLOW_TRACKING_URI", users)
    with fluent_tracking(TrackingConfig(tracking_uri=f"sqlite:///{tmp_path}/ours.db")):
        pass
    assert mlflow.get_tracking_uri() == users
    mlflow.set_tracking_uri(None)


def test_artifact_uri_makes_local_paths_absolute_file_uris(tmp_path: Path) -> None:
    assert artifact_uri(str(tmp_path / "a")) == (tmp_path / "a").as_uri()
    assert artifact_uri("gs://bucket/a") == "gs://bucket/a"
