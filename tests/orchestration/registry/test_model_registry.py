from __future__ import annotations

import base64
from pathlib import Path

import mlflow.pyfunc
import numpy as np
import pandas as pd
import pytest

from orchestration.registry.model_registry import RegisteredVersion, register_pipeline, set_alias
from orchestration.serving.image_payload import PayloadError
from orchestration.serving.registry_error import RegistryError
from orchestration.serving.serve_config import ServeConfig
from pipelines.feature_rows import encode_png
from trainers.models.sampling_options import SamplingOptions
from trainers.tracking.mlflow_runs import fluent_tracking, tracking_client
from trainers.tracking.tracking_config import TrackingConfig

pytestmark = pytest.mark.integration  # ~7.4 s in all, measured on 2 loaded cores


def _lr_payload(size: int = 16) -> str:
    rng = np.random.default_rng(0)
    return base64.b64encode(encode_png(rng.integers(0, 256, (size, size, 3), dtype=np.uint8))).decode()


def test_registered_version_has_tags_signature_and_no_pickles(tracking: TrackingConfig, registered: RegisteredVersion) -> None:
    client = tracking_client(tracking)
    version = client.get_model_version(registered.name, str(registered.version))
    assert version.tags["mmsr.test"] == "yes"
    with fluent_tracking(tracking):
        local = Path(mlflow.artifacts.download_artifacts(registered.model_uri))
    files = [p.name for p in local.rglob("*") if p.is_file()]
    assert any(name.endswith(".safetensors") for name in files)
    assert not [name for name in files if name.endswith((".pkl", ".bin", ".pickle", ".pt"))]


def test_champion_alias_moves_and_unknown_version_is_refused(tracking: TrackingConfig, registered: RegisteredVersion) -> None:
    set_alias(tracking, "champion", registered.version)
    client = tracking_client(tracking)
    assert int(client.get_model_version_by_alias(registered.name, "champion").version) == registered.version
    with pytest.raises(RegistryError, match=f"no version {registered.version + 100}"):
        set_alias(tracking, "champion", registered.version + 100)


def test_pyfunc_super_resolves_by_alias_deterministically(tracking: TrackingConfig, registered: RegisteredVersion) -> None:
    set_alias(tracking, "champion", registered.version)
    with fluent_tracking(tracking):
        model = mlflow.pyfunc.load_model(f"models:/{registered.name}@champion")
    request = pd.DataFrame({"image": [_lr_payload()], "caption": ["a cat on a sofa"]})
    first = model.predict(request, params={"steps": 2, "seed": 3})
    second = model.predict(request, params={"steps": 2, "seed": 3})
    other = model.predict(request, params={"steps": 2, "seed": 4})
    assert list(first.columns) == ["image", "caption"]
    assert first["caption"][0] == "a cat on a sofa"
    assert first["image"][0] == second["image"][0]
    assert first["image"][0] != other["image"][0]
    import cv2

    decoded = cv2.imdecode(np.frombuffer(base64.b64decode(first["image"][0]), np.uint8), cv2.IMREAD_COLOR)
    assert decoded.shape == (64, 64, 3)


def test_pyfunc_runs_in_the_precision_its_model_config_asks_for(tracking: TrackingConfig, registered: RegisteredVersion) -> None:
    import cv2

    request = pd.DataFrame({"image": [_lr_payload()], "caption": ["a cat on a sofa"]})
    outputs = {}
    for precision in ("fp32", "bf16"):
        with fluent_tracking(tracking):
            model = mlflow.pyfunc.load_model(registered.model_uri, model_config={"device": "cpu", "precision": precision})
        payload = model.predict(request, params={"steps": 2, "seed": 3, "guidance_mode": "none"})["image"][0]
        outputs[precision] = cv2.imdecode(np.frombuffer(base64.b64decode(payload), np.uint8), cv2.IMREAD_COLOR)
    difference = np.abs(outputs["fp32"].astype(int) - outputs["bf16"].astype(int))
    assert difference.max() > 0  # bf16 really ran
    assert difference.mean() < 2  # and gives the same picture (in 8-bit levels; measured 0.41, max 3)
    with fluent_tracking(tracking), pytest.raises(Exception, match="needs a CUDA device"):
        mlflow.pyfunc.load_model(registered.model_uri, model_config={"device": "cpu", "precision": "fp16"})


def test_pyfunc_rejects_bad_payloads_and_params(tracking: TrackingConfig, registered: RegisteredVersion) -> None:
    with fluent_tracking(tracking):
        model = mlflow.pyfunc.load_model(registered.model_uri)
    with pytest.raises(PayloadError, match="not valid base64"):
        model.predict(pd.DataFrame({"image": ["***"]}), params={"steps": 1})
    with pytest.raises(PayloadError, match="could not be decoded"):
        model.predict(pd.DataFrame({"image": [base64.b64encode(b"not an image").decode()]}), params={"steps": 1})
    with pytest.raises(PayloadError, match="guidance_mode"):
        model.predict(pd.DataFrame({"image": [_lr_payload()]}), params={"guidance_mode": "loud"})


def test_a_new_version_gets_the_challenger_alias(
    tracking: TrackingConfig, registered: RegisteredVersion, tiny_pipeline_dir: Path
) -> None:
    client = tracking_client(tracking)
    run_id = client.get_model_version(registered.name, str(registered.version)).run_id
    newer = register_pipeline(tracking, ServeConfig(sampling=SamplingOptions(steps=2)), run_id, str(tiny_pipeline_dir), {}, alias="challenger")
    assert newer.version == registered.version + 1
    assert str(client.get_registered_model(registered.name).aliases["challenger"]) == str(newer.version)
    assert "challenger" not in client.get_model_version(registered.name, str(registered.version)).aliases
