"""run_training end to end on a local Ray: one 6-step run, shared by every assert of this module."""

from __future__ import annotations

import dataclasses
import json
import math
from pathlib import Path

import cv2
import numpy as np
import pytest
import torch
from PIL import Image
from mlflow.entities import Run
from mlflow.tracking import MlflowClient
from safetensors.torch import load_file

from featurestore.contact_sheet import SheetLayout
from tests.trainers.conftest import TrainingData, make_tracking, make_train_config, training_row
from trainers.harness.train_state import PIPELINE_DIR, STATE_DIR
from trainers.models.sr_pipeline import MMSRPipeline
from trainers.recipes.sr_grid import GRID_HEADERS
from trainers.recipes.train_config import TrainConfig
from trainers.recipes.train_job import TrainResult, run_training
from trainers.tracking.mlflow_runs import tracking_client

STEPS = 6
CHECKPOINT_EVERY = 3
IMAGE_EVERY = 4
STATE_FILES = {"trainable.safetensors", "ema.safetensors", "optimizer.pt", "state.json"}


@dataclasses.dataclass(frozen=True)
class TrainedRun:
    config: TrainConfig
    result: TrainResult
    client: MlflowClient
    run: Run
    run_dir: Path
    """Ray Train's folder of the run (its checkpoints)."""


@pytest.fixture(scope="module")
def trained(
    tmp_path_factory: pytest.TempPathFactory, training_data: TrainingData, base_model_dir: Path, local_ray: None
) -> TrainedRun:
    root = tmp_path_factory.mktemp("train-job")
    config = make_train_config(
        base_model_dir, root / "ray", steps=STEPS, checkpoint_every=CHECKPOINT_EVERY, image_every=IMAGE_EVERY,
        image_rows=2, image_sample_steps=2,
    )
    tracking = make_tracking(root)
    result = run_training(config, training_data.store, tracking, run_name="train-job-test")
    client = tracking_client(tracking)
    return TrainedRun(config, result, client, client.get_run(result.mlflow_run_id), root / "ray" / "train-job-test")


def _history_steps(trained: TrainedRun, key: str) -> list[int]:
    return sorted(point.step for point in trained.client.get_metric_history(trained.run.info.run_id, key))


def test_result_reaches_the_last_step_of_the_snapshot(trained: TrainedRun, training_data: TrainingData) -> None:
    assert trained.result.final_step == STEPS
    assert trained.result.snapshot_id == training_data.snapshot_id
    assert trained.run.info.status == "FINISHED"
    assert math.isfinite(trained.result.metrics["loss"])


def test_run_params_are_the_flattened_train_config(trained: TrainedRun, training_data: TrainingData) -> None:
    params = trained.run.data.params
    expected = {f"train.{field.name}" for field in dataclasses.fields(TrainConfig)}
    assert expected <= set(params)
    assert params["train.steps"] == str(STEPS)
    assert params["train.checkpoint_every"] == str(CHECKPOINT_EVERY)
    assert params["featurestore.snapshot_id"] == str(training_data.snapshot_id)


def test_every_step_has_one_loss_learning_rate_and_throughput_point(trained: TrainedRun) -> None:
    run_id = trained.run.info.run_id
    for key in ("loss", "learning_rate", "samples_per_second"):
        assert _history_steps(trained, key) == list(range(1, STEPS + 1)), key
    losses = trained.client.get_metric_history(run_id, "loss")
    assert all(math.isfinite(point.value) and point.value > 0 for point in losses)
    rates = trained.client.get_metric_history(run_id, "learning_rate")
    assert {point.value for point in rates} == {trained.config.learning_rate}
    assert all(point.value > 0 for point in trained.client.get_metric_history(run_id, "samples_per_second"))
    assert "restored_step" not in trained.run.data.metrics


def test_snapshot_is_the_runs_training_input(trained: TrainedRun, training_data: TrainingData) -> None:
    inputs = trained.run.inputs.dataset_inputs
    assert len(inputs) == 1
    assert inputs[0].dataset.digest == str(training_data.snapshot_id)
    assert inputs[0].dataset.source_type == "iceberg"
    assert json.loads(inputs[0].dataset.source)["snapshot_id"] == training_data.snapshot_id
    assert {(tag.key, tag.value) for tag in inputs[0].tags} >= {("mlflow.data.context", "training")}


def test_model_dir_loads_with_trained_unet_and_frozen_encoders(trained: TrainedRun, base_model_dir: Path) -> None:
    model = MMSRPipeline.from_pretrained(trained.result.model_dir)
    base = MMSRPipeline.from_pretrained(base_model_dir)
    trained_unet, base_unet = model.unet.state_dict(), base.unet.state_dict()
    assert trained_unet.keys() == base_unet.keys()
    assert any(not torch.equal(trained_unet[key], base_unet[key]) for key in base_unet)
    for frozen in ("vae", "vq", "text_encoder"):
        mine, theirs = getattr(model, frozen).state_dict(), getattr(base, frozen).state_dict()
        assert all(torch.equal(mine[key], theirs[key]) for key in theirs), frozen


def test_saved_pipeline_holds_the_ema_weights(trained: TrainedRun) -> None:
    checkpoint = Path(trained.result.model_dir).parent
    ema = load_file(checkpoint / STATE_DIR / "ema.safetensors")
    unet = MMSRPipeline.from_pretrained(trained.result.model_dir).unet.state_dict()
    assert all(torch.equal(unet[key], ema[f"module.unet.{key}"]) for key in unet)


def test_checkpoints_hold_safetensors_and_a_weights_only_optimizer_state(trained: TrainedRun) -> None:
    checkpoints = sorted(p for p in trained.run_dir.glob("checkpoint_*") if p.is_dir())
    steps = sorted(json.loads((c / STATE_DIR / "state.json").read_text())["step"] for c in checkpoints)
    assert steps == list(range(CHECKPOINT_EVERY, STEPS + 1, CHECKPOINT_EVERY))
    for checkpoint in checkpoints:
        assert {p.name for p in (checkpoint / STATE_DIR).iterdir()} == STATE_FILES
        torch.load(checkpoint / STATE_DIR / "optimizer.pt", weights_only=True)
        files = [p for p in checkpoint.rglob("*") if p.is_file()]
        pickled = [p for p in files if p.suffix in {".pt", ".pth", ".bin", ".pkl", ".pickle", ".ckpt"}]
        assert pickled == [checkpoint / STATE_DIR / "optimizer.pt"]
    final = Path(trained.result.model_dir)
    assert final.name == PIPELINE_DIR and final.parent in checkpoints
    weights = {p.relative_to(final).parts[0] for p in final.rglob("*.safetensors")}
    assert weights == {"vae", "unet", "mmlc", "vq", "text_encoder"}


def test_sr_grids_are_logged_at_the_image_steps_and_the_last(trained: TrainedRun) -> None:
    listed = trained.client.list_artifacts(trained.result.mlflow_run_id, "sr_grid")
    assert sorted(Path(found.path).name for found in listed) == ["step_000004.png", "step_000006.png"]
    local = trained.client.download_artifacts(trained.result.mlflow_run_id, "sr_grid/step_000006.png")
    grid = np.asarray(Image.open(local).convert("RGB"))
    layout = SheetLayout(2, len(GRID_HEADERS), 64)
    assert grid.shape[:2] == layout.size[::-1]
    left, top, right, bottom = layout.cell_box(0, GRID_HEADERS.index("HR"))  # the first eval row: sample-00000
    hr = cv2.cvtColor(cv2.imdecode(np.frombuffer(training_row(0)["hr_png"], np.uint8), cv2.IMREAD_COLOR), cv2.COLOR_BGR2RGB)
    np.testing.assert_array_equal(grid[top:bottom, left:right], hr)
    left, top, right, bottom = layout.cell_box(0, GRID_HEADERS.index("SR (EMA)"))
    assert grid[top:bottom, left:right].std() > 0  # a sampled image, not a placeholder
