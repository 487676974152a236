"""run_vq_training end to end on a local Ray: 2 CPU workers, a tiny VQModel, 3 steps on a tiny
committed snapshot whose rows have realistic depth/segmentation/edge maps (some absent)."""

from __future__ import annotations

import dataclasses
import json
import math
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch
from diffusers import VQModel
from mlflow.entities import Run
from mlflow.tracking import MlflowClient

from featurestore.config import FeatureStoreConfig
from featurestore.modality import SPATIAL_MODALITIES, VQ_CODEBOOK_SIZE, VQ_GRID, Modality
from featurestore.readers import current_snapshot_id
from pipelines.feature_rows import modality_map_png
from pipelines.modality_codes import encode_to_codes, maps_to_vq_input, render_modality_map
from pipelines.model_stages import load_tokenizers
from pipelines.preprocess_config import TokenizerConfig
from tests.featurestore.conftest import commit_rows, sample_row
from tests.trainers.conftest import make_tracking
from tests.trainers.recipes.test_vq_train_loop import TEST_VQ
from trainers.models.presets import TINY
from trainers.models.vq_tokenizer import build_vq_tokenizer
from trainers.recipes.vq_train_config import VqTrainConfig
from trainers.recipes.vq_train_job import VqTrainResult, run_vq_training
from trainers.recipes.vq_train_loop import VQ_DIR, VQ_STATE_DIR
from trainers.tracking.mlflow_runs import tracking_client

pytestmark = pytest.mark.slow(minutes=4, minutes_each=0.5)  # a real Ray Train fit, ~100 s on 2 cores

STEPS = 3
ROWS = 16
"""Every 4th row is eval (4 rows); segmentation is absent from every 3rd row, depth from every 5th."""


def _maps(index: int) -> dict[Modality, np.ndarray]:
    """A 64x64 depth ramp, 3-class segmentation blocks and a 0/255 edge rectangle, varied by index."""
    rows, cols = np.mgrid[0:64, 0:64]
    depth = ((rows + index * cols) % 64).astype(np.float32) / 63.0
    labels = np.where(cols < 16 + index, 3, np.where(rows < 32, 7, 12)).astype(np.int32)
    edges = np.zeros((64, 64), dtype=np.uint8)
    edges[8 + index % 8, 8:56] = edges[56, 8:56] = edges[8:56, 8] = edges[8:56, 40 + index % 8] = 255
    return {Modality.DEPTH: depth, Modality.SEGMENTATION: labels, Modality.EDGES: edges}


def _row(index: int) -> dict[str, Any]:
    row = sample_row(index)
    for modality, modality_map in _maps(index).items():
        row[modality.map_column] = modality_map_png(modality, modality_map)
    if index % 3 == 0:
        row[Modality.SEGMENTATION.map_column] = row[Modality.SEGMENTATION.tokens_column] = None
    if index % 5 == 0:
        row[Modality.DEPTH.map_column] = row[Modality.DEPTH.tokens_column] = None
    return row


@pytest.fixture(scope="module")
def map_store(tmp_path_factory: pytest.TempPathFactory) -> FeatureStoreConfig:
    root = tmp_path_factory.mktemp("vq-featurestore")
    return commit_rows(root, "vq-tests", [_row(i) for i in range(ROWS)])


@dataclasses.dataclass(frozen=True)
class VqRun:
    config: VqTrainConfig
    result: VqTrainResult
    client: MlflowClient
    run: Run
    init_dir: Path


@pytest.fixture(scope="module")
def vq_run(tmp_path_factory: pytest.TempPathFactory, map_store: FeatureStoreConfig, local_ray: None) -> VqRun:
    root = tmp_path_factory.mktemp("vq-train-job")
    init_dir = root / "vq-init"
    build_vq_tokenizer(dataclasses.replace(TINY, vq=TEST_VQ)).save_pretrained(init_dir)
    config = VqTrainConfig(
        init_model=str(init_dir), output_dir=str(root / "vq-tokenizer"), steps=STEPS, batch_size=2, num_workers=2,
        learning_rate=1e-3, eval_every=2, eval_max_rows=2, checkpoint_every=2, storage_path=str(root / "ray"),
    )
    tracking = make_tracking(root)
    result = run_vq_training(config, map_store, tracking, run_name="vq-job-test")
    client = tracking_client(tracking)
    return VqRun(config, result, client, client.get_run(result.mlflow_run_id), init_dir)


def _history(vq_run: VqRun, key: str) -> dict[int, float]:
    return {p.step: p.value for p in vq_run.client.get_metric_history(vq_run.run.info.run_id, key)}


def test_run_reaches_the_last_step_on_the_snapshot(vq_run: VqRun, map_store: FeatureStoreConfig) -> None:
    assert vq_run.result.final_step == STEPS
    assert vq_run.result.snapshot_id == current_snapshot_id(map_store)
    assert vq_run.run.info.status == "FINISHED"
    assert vq_run.run.data.params["vq_train.steps"] == str(STEPS)
    assert vq_run.run.data.params["featurestore.snapshot_id"] == str(vq_run.result.snapshot_id)
    assert vq_run.run.inputs.dataset_inputs[0].dataset.digest == str(vq_run.result.snapshot_id)


def test_every_step_logs_the_loss_terms(vq_run: VqRun) -> None:
    for key in ("loss", "reconstruction_loss", "commit_loss", "grad_norm", "maps_per_second"):
        history = _history(vq_run, key)
        assert sorted(history) == list(range(1, STEPS + 1)), key
        assert all(math.isfinite(v) and v >= 0 for v in history.values()), key
    losses, parts = _history(vq_run, "loss"), (_history(vq_run, "reconstruction_loss"), _history(vq_run, "commit_loss"))
    assert all(losses[s] == pytest.approx(parts[0][s] + parts[1][s], rel=1e-5) for s in losses)


def test_per_modality_reconstruction_errors_are_logged_at_eval_steps(vq_run: VqRun) -> None:
    eval_steps = [2, STEPS]
    for modality in SPATIAL_MODALITIES:
        mse = _history(vq_run, f"eval/{modality.value}/mse")
        assert sorted(mse) == eval_steps, modality
        assert all(0.0 <= v <= 1.0 for v in mse.values())
    for key in ("eval/edges/pixel_accuracy", "eval/edges/edge_f1", "eval/segmentation/pixel_accuracy", "eval/codebook_usage"):
        values = _history(vq_run, key)
        assert sorted(values) == eval_steps and all(0.0 <= v <= 1.0 for v in values.values()), key
    # the 2 eval rows are samples 0 and 4: 0 has no depth and no segmentation, 4 has all three
    counts = {m: vq_run.result.metrics[f"eval/{m.value}/count"] for m in SPATIAL_MODALITIES}
    assert counts == {Modality.DEPTH: 1.0, Modality.SEGMENTATION: 1.0, Modality.EDGES: 2.0}


def test_checkpoints_are_safetensors_and_a_weights_only_state(vq_run: VqRun) -> None:
    checkpoints = sorted(p for p in (Path(vq_run.config.storage_path) / "vq-job-test").glob("checkpoint_*") if p.is_dir())
    steps = sorted(json.loads((c / VQ_STATE_DIR / "state.json").read_text())["step"] for c in checkpoints)
    assert steps == [2, STEPS]
    for checkpoint in checkpoints:
        assert {p.name for p in (checkpoint / VQ_DIR).iterdir()} == {"config.json", "diffusion_pytorch_model.safetensors"}
        pickled = [p for p in checkpoint.rglob("*") if p.suffix in {".pt", ".pth", ".bin", ".pkl", ".ckpt"}]
        assert pickled == [checkpoint / VQ_STATE_DIR / "optimizer.pt"]
        state = torch.load(pickled[0], weights_only=True)
        assert set(state) == {"optimizer", "scaler"} and state["optimizer"]["state"]


def test_saved_tokenizer_loads_through_the_preprocess_path_and_gives_16x16_codes(
    vq_run: VqRun, base_model_dir: Path
) -> None:
    output = Path(vq_run.result.output_dir)
    assert {p.name for p in output.iterdir()} == {"config.json", "diffusion_pytorch_model.safetensors"}
    tokenizers = load_tokenizers(TokenizerConfig(vq_model=str(output), clip_model=str(base_model_dir)), "cpu")
    initial = VQModel.from_pretrained(vq_run.init_dir).state_dict()
    fitted = tokenizers.vq.state_dict()
    assert any(not torch.equal(fitted[k], initial[k]) for k in initial)
    maps = _maps(5)
    pixels = maps_to_vq_input([render_modality_map(maps[m], m) for m in SPATIAL_MODALITIES])
    codes = encode_to_codes(tokenizers.vq, pixels)
    assert codes.shape == (3, VQ_GRID * VQ_GRID) and codes.dtype == torch.int64
    assert int(codes.min()) >= 0 and int(codes.max()) < VQ_CODEBOOK_SIZE
    assert tokenizers.vq.config.num_vq_embeddings == VQ_CODEBOOK_SIZE
