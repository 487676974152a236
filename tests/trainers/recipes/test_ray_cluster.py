"""Training on a multi-node Ray cluster, checkpoints in object storage, and the loss of a node.

The cluster is Ray's own ``ray.cluster_utils.Cluster``: a head (no CPUs, so no training work runs
there) and two worker nodes, each its own raylet on 127.0.0.1. The test joins it the way
``mmsr train`` does (``train.ray_address`` through ``orchestration.ray_runtime.local_ray``) and
keeps checkpoints in S3 (a moto server; Ray Train writes them through pyarrow, which finds the
endpoint in ``AWS_ENDPOINT_URL``). After step 5 the training worker names its node and waits; the
test kills that node. Ray Train restarts the worker group on the other node from the step-3
checkpoint, read back from S3, and the run reaches its last step with every step logged once.
"""

from __future__ import annotations

import time
from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import Path

import pytest
from ray.cluster_utils import Cluster

from orchestration.ray_runtime import local_ray
from tests.services.s3_server import S3Server
from tests.trainers.conftest import RAY_TEST_ENV, TrainingData, make_tracking, make_train_config
from trainers.recipes.train_job import TrainResult, run_training
from trainers.recipes.train_loop import FaultInjection
from trainers.tracking.mlflow_runs import tracking_client

pytestmark = [pytest.mark.slow(minutes=5), pytest.mark.services]  # a 3-node cluster, a training run and a restart: ~2 min on 2 cores

STEPS, CHECKPOINT_EVERY, KILL_AFTER = 6, 3, 5


def _wait_for_node_id(marker: Path, run: Future[TrainResult], timeout_s: float = 300) -> str:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if marker.exists() and marker.read_text():
            return marker.read_text()
        if run.done():
            raise AssertionError(f"training ended before the node kill: {run.result()}")
        time.sleep(0.2)
    raise TimeoutError(f"the training worker did not reach step {KILL_AFTER} within {timeout_s:.0f}s")


def test_losing_the_node_of_the_training_worker_resumes_on_another_from_s3_checkpoints(
    tmp_path: Path, training_data: TrainingData, base_model_dir: Path, s3: S3Server,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    for key, value in (s3.env() | RAY_TEST_ENV).items():
        monkeypatch.setenv(key, value)  # every node of the cluster starts with this environment
    bucket = s3.create_bucket("mmsr-ray")
    cluster = Cluster(initialize_head=True, head_node_args={"num_cpus": 0, "include_dashboard": False})
    try:
        nodes = [cluster.add_node(num_cpus=2) for _ in range(2)]
        cluster.wait_for_nodes()
        config = make_train_config(
            base_model_dir, tmp_path / "unused", storage_path=f"{bucket}/checkpoints", num_workers=1, steps=STEPS,
            checkpoint_every=CHECKPOINT_EVERY, max_failures=1, ray_address=cluster.address,
        )
        tracking, marker = make_tracking(tmp_path), tmp_path / "node-of-rank-0"
        fault = FaultInjection(after_step=KILL_AFTER, marker=str(marker), rank=0, mode="await_node_kill")
        with local_ray(config.cpus, config.ray_address), ThreadPoolExecutor(1) as pool:
            run = pool.submit(run_training, config, training_data.store, tracking, "node-lost", fault)
            node_id = _wait_for_node_id(marker, run)
            victim = next(node for node in nodes if node.node_id == node_id)  # never the head: it has no CPUs
            cluster.remove_node(victim, allow_graceful=False)
            result = run.result(timeout=600)
    finally:
        cluster.shutdown()

    assert result.final_step == STEPS
    client = tracking_client(tracking)
    assert client.get_run(result.mlflow_run_id).info.status == "FINISHED"
    restored = client.get_metric_history(result.mlflow_run_id, "restored_step")
    assert [(point.step, point.value) for point in restored] == [(CHECKPOINT_EVERY, CHECKPOINT_EVERY)]
    for key in ("loss", "learning_rate"):
        steps = sorted(point.step for point in client.get_metric_history(result.mlflow_run_id, key))
        assert steps == list(range(1, STEPS + 1)), key
    assert any(key.startswith("checkpoints/") for key in s3.keys("mmsr-ray")), "no checkpoint reached S3"
