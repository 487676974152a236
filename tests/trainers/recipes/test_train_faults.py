"""Fault tolerance of run_training: a worker killed mid-run, and a failed run started again.

Both faults hit 2 steps after the checkpoint of step 3 (6 steps, a checkpoint every 3): Ray Train
has then surely registered that checkpoint (a worker cannot report step k + 1 before the
controller took its report of step k), so the restore point is step 3, deterministically.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from mlflow.tracking import MlflowClient
from ray.train import TrainingFailedError

from tests.trainers.conftest import TrainingData, make_tracking, make_train_config
from trainers.recipes.train_job import run_training
from trainers.recipes.train_loop import FaultInjection
from trainers.tracking.mlflow_runs import tracking_client

pytestmark = pytest.mark.slow(minutes=3, minutes_each=3)  # three runs and two restarts of a Ray Train job: ~2.5 min on 2 cores

STEPS = 6
CHECKPOINT_EVERY = 3
CRASH_AFTER = 5


def _steps(client: MlflowClient, run_id: str, key: str) -> list[int]:
    return sorted(point.step for point in client.get_metric_history(run_id, key))


def test_killed_worker_restarts_from_the_checkpoint_and_logs_each_step_once(
    tmp_path: Path, training_data: TrainingData, base_model_dir: Path, local_ray: None
) -> None:
    config = make_train_config(
        base_model_dir, tmp_path / "ray", steps=STEPS, checkpoint_every=CHECKPOINT_EVERY, max_failures=1
    )
    tracking = make_tracking(tmp_path)
    marker = tmp_path / "worker-killed"
    fault = FaultInjection(after_step=CRASH_AFTER, marker=str(marker), rank=1)

    result = run_training(config, training_data.store, tracking, run_name="killed-worker", fault=fault)

    assert marker.exists()  # the worker of rank 1 did die once
    assert result.final_step == STEPS
    client = tracking_client(tracking)
    run_id = result.mlflow_run_id
    assert client.get_run(run_id).info.status == "FINISHED"
    restored = client.get_metric_history(run_id, "restored_step")
    assert [(point.step, point.value) for point in restored] == [(CHECKPOINT_EVERY, CHECKPOINT_EVERY)]
    # steps 4 and 5 ran twice (before the crash and after the restore), yet appear once
    for key in ("loss", "learning_rate", "samples_per_second"):
        assert _steps(client, run_id, key) == list(range(1, STEPS + 1)), key


def test_failed_run_started_again_with_its_name_resumes_from_its_checkpoint(
    tmp_path: Path, training_data: TrainingData, base_model_dir: Path, local_ray: None
) -> None:
    storage, tracking = tmp_path / "ray", make_tracking(tmp_path)
    no_retry = make_train_config(
        base_model_dir, storage, steps=STEPS, checkpoint_every=CHECKPOINT_EVERY, max_failures=0
    )
    fault = FaultInjection(after_step=CRASH_AFTER, marker=str(tmp_path / "worker-killed"))
    with pytest.raises(TrainingFailedError):
        run_training(no_retry, training_data.store, tracking, run_name="restarted", fault=fault)
    client = tracking_client(tracking)
    (failed,) = client.search_runs([client.get_experiment_by_name(tracking.experiment).experiment_id])
    assert failed.info.status == "FAILED"
    assert _steps(client, failed.info.run_id, "loss") == list(range(1, CRASH_AFTER + 1))

    result = run_training(no_retry, training_data.store, tracking, run_name="restarted")

    assert result.final_step == STEPS
    assert result.mlflow_run_id != failed.info.run_id
    assert client.get_run(result.mlflow_run_id).info.status == "FINISHED"
    restored = client.get_metric_history(result.mlflow_run_id, "restored_step")
    assert [point.value for point in restored] == [CHECKPOINT_EVERY]
    assert _steps(client, result.mlflow_run_id, "loss") == list(range(CHECKPOINT_EVERY + 1, STEPS + 1))
