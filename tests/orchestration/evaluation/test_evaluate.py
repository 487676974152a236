from __future__ import annotations

import pickle
import shutil
from pathlib import Path

import mlflow
import numpy as np
import pandas as pd
import pytest

from featurestore.config import FeatureStoreConfig
from orchestration.evaluation.evaluate import evaluate_model, score_image
from orchestration.evaluation.quality_metrics import QualityMetricsConfig
from orchestration.registry.model_registry import RegisteredVersion
from orchestration.registry.model_verification import MODEL_CODE
from orchestration.registry.registry_error import RegistryError
from orchestration.serving.serve_config import ServeConfig
from tests.orchestration.conftest import make_eval_store
from trainers.mlflow_runs import create_run, experiment_id, fluent_tracking, tracking_client
from trainers.tracking_config import TrackingConfig


def test_score_image_identical_and_noisy() -> None:
    rng = np.random.default_rng(0)
    hr = rng.integers(0, 256, (32, 32, 3), dtype=np.uint8)
    same = score_image(hr, hr)
    assert same.psnr == 100.0 and same.ssim == pytest.approx(1.0)
    noisy = np.clip(hr.astype(int) + rng.integers(-20, 21, hr.shape), 0, 255).astype(np.uint8)
    scores = score_image(noisy, hr)
    assert 20.0 < scores.psnr < 40.0 and scores.ssim < 1.0
    with pytest.raises(ValueError, match="differs"):
        score_image(hr[:16], hr)


@pytest.fixture
def eval_store(tmp_path: Path) -> FeatureStoreConfig:
    return make_eval_store(tmp_path)


def test_evaluate_logs_metrics_per_image_table_grid_and_dataset(
    eval_store: FeatureStoreConfig, tracking: TrackingConfig, registered: RegisteredVersion, tmp_path: Path
) -> None:
    quality = QualityMetricsConfig(metrics=("lpips", "niqe"), weights_dir=str(tmp_path / "no-weights"))
    result = evaluate_model(registered.model_uri, eval_store, tracking, ServeConfig(steps=2), quality=quality)
    assert result.images == 2
    assert {"eval_psnr", "eval_ssim", "eval_bicubic_psnr", "eval_bicubic_ssim", "eval_seconds"} == set(result.metrics)
    assert sorted(result.unavailable) == ["lpips", "niqe"]
    assert f"niqe.mat in {tmp_path / 'no-weights'}" in result.unavailable["niqe"]
    client = tracking_client(tracking)
    run = client.get_run(result.mlflow_run_id)
    assert run.data.metrics["eval_psnr"] == pytest.approx(result.metrics["eval_psnr"])
    assert run.data.tags["eval.unavailable.lpips"] == result.unavailable["lpips"]
    assert run.inputs.dataset_inputs[0].dataset.digest == str(result.snapshot_id)
    artifacts = {a.path for a in client.list_artifacts(result.mlflow_run_id)}
    assert {"per_image_scores.json", "eval_grid.png"} <= artifacts
    with fluent_tracking(tracking):
        logged = mlflow.artifacts.load_dict(f"runs:/{result.mlflow_run_id}/per_image_scores.json")
        grid = np.asarray(mlflow.artifacts.load_image(f"runs:/{result.mlflow_run_id}/eval_grid.png"))
    table = pd.DataFrame(logged["data"], columns=logged["columns"])
    assert sorted(table["sample_id"]) == ["sample-00000", "sample-00001"]
    assert table["psnr"].mean() == pytest.approx(result.metrics["eval_psnr"])
    assert grid.shape == (2 * 64 + 3 * 4, 3 * 64 + 4 * 4, 3)


def test_evaluate_refuses_a_model_with_a_pickle(
    eval_store: FeatureStoreConfig, tracking: TrackingConfig, tiny_pipeline_dir: Path, tmp_path: Path
) -> None:
    poisoned = shutil.copytree(tiny_pipeline_dir, tmp_path / "poisoned")
    (poisoned / "mmlc" / "extra.pkl").write_bytes(pickle.dumps({"x": 1}))
    client = tracking_client(tracking)
    run_id = create_run(client, experiment_id(client, tracking), "poisoned", {})
    with fluent_tracking(tracking), mlflow.start_run(run_id=run_id):  # MLflow directly: ours refuses to register it
        info = mlflow.pyfunc.log_model(
            name="model", python_model=str(MODEL_CODE), artifacts={"pipeline": str(poisoned)},
            registered_model_name=tracking.registered_model,
        )
    model_uri = f"models:/{tracking.registered_model}/{info.registered_model_version}"
    with pytest.raises(RegistryError, match=r"mmlc/extra\.pkl: a pickle stream"):
        evaluate_model(model_uri, eval_store, tracking, ServeConfig(steps=1))
