"""run_training with ``train.degradation: on_the_fly`` on a local Ray: a short run, then its resume."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from pipelines.degradation import DegradationConfig
from tests.trainers.conftest import TrainingData, make_tracking, make_train_config
from trainers.data.lr_draws import LR_DRAW_DERIVATION
from trainers.harness.train_state import STATE_DIR
from trainers.recipes.train_job import run_training
from trainers.tracking.mlflow_runs import tracking_client

pytestmark = pytest.mark.slow(minutes=3)  # two Ray Train runs, one resumed: ~90 s on 2 cores

BATCH = 8
"""24 train rows on one worker: 3 batches an epoch, so step 4 is the first of epoch 1."""


def test_on_the_fly_run_logs_its_epochs_and_a_resume_restarts_the_checkpointed_epoch(
    tmp_path: Path, training_data: TrainingData, base_model_dir: Path, local_ray: None
) -> None:
    tracking = make_tracking(tmp_path)
    settings = {"num_workers": 1, "batch_size": BATCH, "checkpoint_every": 2, "degradation": "on_the_fly",
                "encoding_cache_rows": 64, "seed": 3}
    config = make_train_config(base_model_dir, tmp_path / "ray", steps=4, **settings)
    with pytest.raises(ValueError, match="on_the_fly"):
        run_training(config, training_data.store, tracking, run_name="fresh")

    first = run_training(config, training_data.store, tracking, run_name="fresh", lr_degradation=DegradationConfig())
    client = tracking_client(tracking)
    run = client.get_run(first.mlflow_run_id)
    assert run.info.status == "FINISHED"
    assert run.data.params["train.lr_draw"] == LR_DRAW_DERIVATION
    assert json.loads(run.data.params["train.lr_degradation"])["scale"] == DegradationConfig().scale
    epochs = {p.step: p.value for p in client.get_metric_history(first.mlflow_run_id, "epoch")}
    assert epochs == {1: 0, 2: 0, 3: 0, 4: 1}
    state = json.loads((Path(first.model_dir).parent / STATE_DIR / "state.json").read_text())
    assert state == {"step": 4, "epoch": 1}
    assert client.get_metric_history(first.mlflow_run_id, "encoding_cache_hit_rate")[-1].value > 0  # HR latents cached

    resumed = run_training(
        make_train_config(base_model_dir, tmp_path / "ray", steps=6, **settings), training_data.store, tracking,
        run_name="fresh", lr_degradation=DegradationConfig(),
    )
    epochs = {p.step: p.value for p in client.get_metric_history(resumed.mlflow_run_id, "epoch")}
    assert epochs == {5: 1, 6: 1}  # epoch 1 restarted: its rows get epoch 1's draws again
