"""MLflow helpers: explicit clients, and a fluent URI that never outlives its block."""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path

import mlflow
import pytest

from trainers.tracking.mlflow_runs import artifact_uri, fluent_tracking
from trainers.tracking.tracking_config import TrackingConfig

pytestmark = pytest.mark.integration  # ~13.6 s in all, measured on 2 loaded cores


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


RACER = """
import pathlib, sys, time
from trainers.tracking.mlflow_runs import experiment_id, tracking_client
from trainers.tracking.tracking_config import TrackingConfig
tracking = TrackingConfig(tracking_uri=sys.argv[1], artifact_location=sys.argv[2])
gate = pathlib.Path(sys.argv[3])
(gate / sys.argv[4]).touch()
while not (gate / "go").exists():
    time.sleep(0.001)
print(experiment_id(tracking_client(tracking), tracking))
"""


def test_processes_opening_a_new_sqlite_store_at_once_all_get_the_same_experiment(tmp_path: Path) -> None:
    """Without the lock, 3 of 4 such processes failed in 3 of 3 tries ("table ... already exists",
    alembic's "expected to match one row"): two ``mmsr`` commands started together on a new workdir."""
    uri, artifacts, gate = f"sqlite:///{tmp_path}/runs/mlflow.db", str(tmp_path / "artifacts"), tmp_path / "gate"
    gate.mkdir()
    racers = [
        subprocess.Popen(
            [sys.executable, "-c", RACER, uri, artifacts, str(gate), f"ready-{index}"],
            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        )
        for index in range(4)
    ]
    deadline = time.monotonic() + 120
    while len(list(gate.glob("ready-*"))) < 4 and time.monotonic() < deadline:  # every racer has imported mlflow
        time.sleep(0.01)
    (gate / "go").touch()
    outputs = [racer.communicate(timeout=120) for racer in racers]
    assert [racer.returncode for racer in racers] == [0] * 4, "\n".join(err[-2000:] for _, err in outputs)
    assert len({out.strip() for out, _ in outputs}) == 1
