from __future__ import annotations

import pickle
import shutil
from dataclasses import replace
from pathlib import Path

import mlflow
import numpy as np
import pandas as pd
import pytest

from featurestore.config import FeatureStoreConfig
from featurestore.readers import read_arrow
from orchestration.evaluation.evaluate import evaluate_model, score_image
from orchestration.evaluation.quality_metrics import QualityMetricsConfig
from orchestration.registry.model_registry import RegisteredVersion
from orchestration.serving.lr_modalities import LrModalities, upsample
from orchestration.serving.model_verification import MODEL_CODE
from orchestration.serving.registry_error import RegistryError
from orchestration.serving.serve_config import ServeConfig
from pipelines.image_decoding import decode_image
from tests.orchestration.conftest import make_eval_store, make_oracle_store, oracle_spy
from trainers.models.sampling_options import SamplingOptions
from trainers.tracking.mlflow_runs import create_run, experiment_id, fluent_tracking, tracking_client
from trainers.tracking.tracking_config import TrackingConfig

pytestmark = pytest.mark.integration  # ~44 s in all, measured on 2 loaded cores


def test_score_image_identical_and_noisy() -> None:
    rng = np.random.default_rng(0)
    hr = rng.integers(0, 256, (32, 32, 3), dtype=np.uint8)
    same = score_image(hr, hr, 4)
    assert same.psnr == 100.0 and same.ssim == pytest.approx(1.0)
    noisy = np.clip(hr.astype(int) + rng.integers(-20, 21, hr.shape), 0, 255).astype(np.uint8)
    scores = score_image(noisy, hr, 4)
    assert 20.0 < scores.psnr < 40.0 and scores.ssim < 1.0
    assert score_image(noisy, hr, 4, "rgb").psnr != scores.psnr
    with pytest.raises(ValueError, match="differs"):
        score_image(hr[:16], hr, 4)


@pytest.fixture
def eval_store(tmp_path: Path) -> FeatureStoreConfig:
    return make_eval_store(tmp_path)


def test_evaluate_logs_metrics_per_image_table_grid_and_dataset(
    eval_store: FeatureStoreConfig, tracking: TrackingConfig, registered: RegisteredVersion, tmp_path: Path
) -> None:
    quality = QualityMetricsConfig(metrics=("lpips", "niqe"), weights_dir=str(tmp_path / "no-weights"))
    result = evaluate_model(registered.model_uri, eval_store, tracking, ServeConfig(sampling=SamplingOptions(steps=2)), quality=quality)
    assert result.images == 2
    assert {"eval_psnr", "eval_ssim", "eval_bicubic_psnr", "eval_bicubic_ssim", "eval_seconds"} == set(result.metrics)
    assert result.convention == "basicsr-y" and result.caption_source == "lr"
    assert sorted(result.unavailable) == ["lpips", "niqe"]
    assert f"niqe.mat in {tmp_path / 'no-weights'}" in result.unavailable["niqe"]
    client = tracking_client(tracking)
    run = client.get_run(result.mlflow_run_id)
    assert run.data.metrics["eval_psnr"] == pytest.approx(result.metrics["eval_psnr"])
    assert run.data.tags["eval.unavailable.lpips"] == result.unavailable["lpips"]
    assert run.data.params["evaluate.convention"] == "basicsr-y" and run.data.params["evaluate.caption_source"] == "lr"
    assert run.data.tags["eval.convention"] == "basicsr-y" and run.data.tags["eval.caption_source"] == "lr"
    assert run.inputs.dataset_inputs[0].dataset.digest == str(result.snapshot_id)
    artifacts = {a.path for a in client.list_artifacts(result.mlflow_run_id)}
    assert {"per_image_scores.json", "eval_grid.png"} <= artifacts
    with fluent_tracking(tracking):
        logged = mlflow.artifacts.load_dict(f"runs:/{result.mlflow_run_id}/per_image_scores.json")
        grid = np.asarray(mlflow.artifacts.load_image(f"runs:/{result.mlflow_run_id}/eval_grid.png"))
    table = pd.DataFrame(logged["data"], columns=logged["columns"])
    assert sorted(table["sample_id"]) == ["sample-00000", "sample-00001"]
    assert table["psnr"].mean() == pytest.approx(result.metrics["eval_psnr"])
    assert list(table["caption"]) == ["", ""]  # the tiny model packages no captioner: no caption
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
        evaluate_model(model_uri, eval_store, tracking, ServeConfig(sampling=SamplingOptions(steps=1)))


def test_the_model_gets_a_caption_of_the_lr_never_the_stored_one_unless_asked(
    tracking: TrackingConfig, registered: RegisteredVersion, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    store = make_oracle_store(tmp_path)
    captioner, received = oracle_spy(monkeypatch)
    quality = QualityMetricsConfig(metrics=())
    result = evaluate_model(registered.model_uri, store, tracking, ServeConfig(sampling=SamplingOptions(steps=1)), quality=quality)
    assert received == ["generated from a 64x64 image"] * 2  # the 16x16 LR upsampled x4, as serving captions it
    lr = decode_image(read_arrow(store, result.snapshot_id, columns=["lr_png"]).to_pylist()[0]["lr_png"])
    np.testing.assert_array_equal(captioner.seen[0], upsample(lr, 4))
    with fluent_tracking(tracking):
        logged = mlflow.artifacts.load_dict(f"runs:/{result.mlflow_run_id}/per_image_scores.json")
    assert set(pd.DataFrame(logged["data"], columns=logged["columns"])["caption"]) == {"generated from a 64x64 image"}

    received.clear()
    stored = replace(quality, caption_source="stored")
    result = evaluate_model(registered.model_uri, store, tracking, ServeConfig(sampling=SamplingOptions(steps=1)), quality=stored)
    assert received == ["ORACLE", "ORACLE"] and result.caption_source == "stored"
    assert tracking_client(tracking).get_run(result.mlflow_run_id).data.tags["eval.caption_source"] == "stored"


def test_without_a_packaged_captioner_the_model_gets_no_caption(
    tracking: TrackingConfig, registered: RegisteredVersion, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    store = make_oracle_store(tmp_path)
    _, received = oracle_spy(monkeypatch)
    monkeypatch.setattr(LrModalities, "load", classmethod(lambda cls, *args, **kwargs: cls()))
    evaluate_model(registered.model_uri, store, tracking, ServeConfig(sampling=SamplingOptions(steps=1)), quality=QualityMetricsConfig(metrics=()))
    assert received == [None, None]
