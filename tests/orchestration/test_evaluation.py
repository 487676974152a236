from __future__ import annotations

from pathlib import Path

import numpy as np
import pyarrow as pa
import pytest

from featurestore.commit import commit_run
from featurestore.config import FeatureStoreConfig
from featurestore.schema import SAMPLES_SCHEMA
from featurestore.staging import SAMPLES_DIR, staging_dir
from orchestration.evaluation import evaluate_model, score_image
from orchestration.mlflow_runs import tracking_client
from orchestration.registry import RegisteredVersion
from orchestration.serve_config import ServeConfig
from orchestration.tracking_config import TrackingConfig
from pipelines.feature_rows import encode_png
from tests.featurestore.conftest import sample_row, write_parquet


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
    store = FeatureStoreConfig(catalog_uri=f"sqlite:///{tmp_path}/catalog.db", warehouse=str(tmp_path / "warehouse"))
    rng = np.random.default_rng(1)
    rows = []
    for index in range(4):
        row = sample_row(index)
        hr = rng.integers(0, 256, (64, 64, 3), dtype=np.uint8)
        row.update(hr_png=encode_png(hr), lr_png=encode_png(hr[::4, ::4]), split="eval" if index < 2 else "train")
        rows.append(row)
    table = pa.Table.from_pylist(rows, SAMPLES_SCHEMA)
    write_parquet(f"{staging_dir(store, 'eval-run')}/{SAMPLES_DIR}/part-00000.parquet", table)
    commit_run(store, "eval-run", {"config_hash": "test"})
    return store


def test_evaluate_logs_metrics_per_image_table_and_dataset(
    eval_store: FeatureStoreConfig, tracking: TrackingConfig, registered: RegisteredVersion
) -> None:
    result = evaluate_model(registered.model_uri, eval_store, tracking, ServeConfig(steps=2))
    assert result.images == 2
    assert set(result.metrics) == {"eval_psnr", "eval_ssim"}
    run = tracking_client(tracking).get_run(result.mlflow_run_id)
    assert run.data.metrics["eval_psnr"] == pytest.approx(result.metrics["eval_psnr"])
    assert run.inputs.dataset_inputs[0].dataset.digest == str(result.snapshot_id)
    artifacts = [a.path for a in tracking_client(tracking).list_artifacts(result.mlflow_run_id)]
    assert "per_image_scores.json" in artifacts
