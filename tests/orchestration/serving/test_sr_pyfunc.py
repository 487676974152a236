"""The registered model (MLflow pyfunc) in-process: every LR size with both autoencoder kinds, and
an unexpected failure reported as a 500 with an error id, its trace only in the log."""

from __future__ import annotations

import base64
import logging
from collections.abc import Callable
from pathlib import Path

import mlflow
import numpy as np
import pandas as pd
import pytest

from orchestration.serving import sr_pyfunc
from orchestration.serving.sr_pyfunc import ServerError
from pipelines.feature_rows import encode_png
from pipelines.image_decoding import decode_image
from tests.orchestration.conftest import fast_sizes, register_test_pipeline
from trainers.tracking.mlflow_runs import fluent_tracking
from trainers.tracking.tracking_config import TrackingConfig

pytestmark = pytest.mark.integration  # ~17 s in all, measured on 2 loaded cores

LR_SIZES = [(16, 16), (33, 47), (127, 129), (130, 130), (160, 120), (300, 200), (513, 511)]
"""(height, width): below, at and past one UNet tile and one 512 px VAE tile of the x4 output, square or not."""


@pytest.fixture(scope="module")
def fast_model(tracking: TrackingConfig, pipeline_dirs: Callable) -> Callable[[str], mlflow.pyfunc.PyFuncModel]:
    """``fast_model(preset)``: the registered ``fast_sizes(preset)`` pipeline, loaded once per module."""
    loaded: dict[str, mlflow.pyfunc.PyFuncModel] = {}

    def load(preset: str) -> mlflow.pyfunc.PyFuncModel:
        if preset not in loaded:
            version = register_test_pipeline(tracking, pipeline_dirs(f"fast-{preset}", fast_sizes(preset)))
            with fluent_tracking(tracking):
                loaded[preset] = mlflow.pyfunc.load_model(version.model_uri)
        return loaded[preset]

    return load


def _payload(height: int, width: int) -> str:
    lr = np.random.default_rng(height * 1000 + width).integers(0, 256, (height, width, 3), dtype=np.uint8)
    return base64.b64encode(encode_png(lr)).decode()


@pytest.mark.parametrize(
    "preset",
    # The KL's mid-block attends over each 512 px VAE tile's 128 x 128 latent: ~270 s on a shared CPU.
    [pytest.param("tiny", marks=pytest.mark.slow(minutes=5, minutes_each=5)), "quickstart"],
    ids=["AutoencoderKL", "AutoencoderTiny"],
)
def test_every_lr_size_is_served_at_exactly_scale_times_its_size(fast_model: Callable, preset: str) -> None:
    """The quickstart's AutoencoderTiny failed every LR over 128 px (VAE tiled as f8); the fixtures
    built only the ``tiny`` preset (AutoencoderKL) and served 16 px LRs."""
    model = fast_model(preset)
    request = pd.DataFrame({"image": [_payload(h, w) for h, w in LR_SIZES]})
    answer = model.predict(request, params={"steps": 1, "guidance_mode": "none"})
    shapes = [decode_image(base64.b64decode(image)).shape for image in answer["image"]]
    assert shapes == [(4 * h, 4 * w, 3) for h, w in LR_SIZES]


def test_an_unexpected_failure_is_a_500_with_an_error_id_and_the_trace_only_in_the_log(
    fast_model: Callable, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    model = fast_model("quickstart")

    def fail(*_args: object, **_kwargs: object) -> None:
        raise RuntimeError("boom in /srv/secret/path.py")

    monkeypatch.setattr(sr_pyfunc, "super_resolve_batch", fail)
    with caplog.at_level(logging.ERROR, logger=sr_pyfunc.__name__), pytest.raises(ServerError) as raised:
        model.predict(pd.DataFrame({"image": [_payload(16, 16)]}), params={"steps": 1})
    error = raised.value
    assert error.get_http_status_code() == 500
    assert error.error_id in error.message and "secret" not in error.serialize_as_json()
    assert "stack_trace" not in error.serialize_as_json()
    logged = [record for record in caplog.records if error.error_id in record.getMessage()]
    assert logged and "boom in /srv/secret/path.py" in caplog.text and "Traceback" in caplog.text
